/**
 * What differs between two desired instance states, one short line per difference, for `planInstance`
 * (a backend keeping the last applied desired state, like the in-memory one, compares it with the new one).
 * Values from Secrets are never printed: a sensitive difference says only which item changed.
 */
import type { ContainerDesired, InstanceDesired } from '../../datum/backend.ts';

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function containers(was: ContainerDesired[], now: ContainerDesired[]): string[] {
  const out: string[] = [];
  for (const c of now) {
    const old = was.find((o) => o.name === c.name);
    if (!old) {
      out.push(`container ${c.name}: added`);
      continue;
    }
    if (old.image !== c.image) out.push(`container ${c.name} image: ${old.image} → ${c.image}`);
    if (!same(old.env, c.env)) out.push(`container ${c.name}: environment`);
    if (!same(old.ports, c.ports)) out.push(`container ${c.name}: ports`);
    if (!same(old.files, c.files)) out.push(`container ${c.name}: files`);
  }
  for (const o of was) if (!now.some((c) => c.name === o.name)) out.push(`container ${o.name}: removed`);
  return out;
}

export function diffInstanceDesired(was: InstanceDesired, now: InstanceDesired): string[] {
  const out: string[] = [];
  if (was.instanceType !== now.instanceType)
    out.push(`instance type: ${was.instanceType} → ${now.instanceType}`);
  const a = was.runtime;
  const b = now.runtime;
  if (a.kind !== b.kind) out.push(`runtime: ${a.kind} → ${b.kind}`);
  else if (a.kind === 'sandbox' && b.kind === 'sandbox') out.push(...containers(a.containers, b.containers));
  else if (a.kind === 'virtualMachine' && b.kind === 'virtualMachine') {
    if (a.image !== b.image) out.push(`image: ${a.image} → ${b.image}`);
    if (a.diskSizeGiB !== b.diskSizeGiB) out.push(`disk: ${a.diskSizeGiB} GiB → ${b.diskSizeGiB} GiB`);
    if (!same(a.ports, b.ports)) out.push('ports');
    if (!same(a.files, b.files)) out.push('files');
  }
  if (
    !same(
      was.interfaces.map((i) => i.subnetId),
      now.interfaces.map((i) => i.subnetId),
    )
  )
    out.push('network interfaces');
  else if (!same(was.interfaces, now.interfaces)) out.push('firewall (ingress rules)');
  if (!same(was.sshKeys, now.sshKeys)) out.push('ssh keys');
  if (!same(was.resources, now.resources)) out.push('resources (cpu, memory)');
  if (!!was.suspended !== !!now.suspended) out.push(now.suspended ? 'power: stop (suspend)' : 'power: start');
  return out;
}
