/**
 * The Redfish side of a host's life: provision (boot image and config drive as virtual media, boot from CD
 * once, power on or restart), observe power, and deprovision (power off, awaited; eject everything). Each step
 * is idempotent, so a reconcile repeated after a crash redoes at most a harmless insert or request.
 */

import { BackendError } from '../../datum/backend.ts';
import type { MediaState, RedfishClient } from './redfish.ts';

const isCd = (m: MediaState) => m.mediaTypes.some((t) => t === 'CD' || t === 'DVD');
const isStick = (m: MediaState) => m.mediaTypes.some((t) => t === 'USBStick' || t === 'Floppy');

/** Inserts the boot image and the config drive, sets a one-time boot from CD, and powers on (or restarts). */
export async function startProvisioning(
  bmc: RedfishClient,
  host: string,
  media: { image: string; configDrive: string },
): Promise<void> {
  const devices = await bmc.media();
  const cd = devices.find(isCd);
  const stick = devices.find((d) => d !== cd && isStick(d));
  if (!cd)
    throw new BackendError('InvalidConfiguration', `host ${host}: the BMC has no virtual CD to boot from`);
  if (!stick)
    throw new BackendError(
      'InvalidConfiguration',
      `host ${host}: the BMC has no second virtual device for the config drive`,
    );
  await place(bmc, cd, media.image);
  await place(bmc, stick, media.configDrive);
  await bmc.bootOnce('Cd');
  const { powerState } = await bmc.system();
  await bmc.reset(powerState === 'On' ? 'ForceRestart' : 'On');
}

async function place(bmc: RedfishClient, device: MediaState, image: string): Promise<void> {
  if (device.inserted && device.image === image) return;
  // Many BMCs refuse an insert over inserted media.
  if (device.inserted) await bmc.eject(device);
  await bmc.insert(device, image);
}

/**
 * One step of tearing down: returns true once the host is off with no media inserted. A power-off request is
 * (re)sent when `requestDue` says so; the BMC applies it asynchronously.
 */
export async function deprovisionStep(
  bmc: RedfishClient,
  requestDue: boolean,
): Promise<'off' | 'requested' | 'waiting'> {
  const { powerState } = await bmc.system();
  if (powerState !== 'Off') {
    if (!requestDue) return 'waiting';
    await bmc.reset('ForceOff');
    return 'requested';
  }
  for (const d of await bmc.media()) if (d.inserted) await bmc.eject(d);
  return 'off';
}
