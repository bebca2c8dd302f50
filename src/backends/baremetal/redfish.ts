/**
 * A small Redfish client for one ComputerSystem: power, one-time boot override and virtual media. Every failure
 * is a `BackendError` from the catalogue; credentials go only into the Authorization header, and BMC messages
 * are stripped of URLs before they reach an error (a config-drive URL carries a token).
 */
import { BackendError } from '../../datum/backend.ts';

export interface BmcCredentials {
  username: string;
  password: string;
}

export interface SystemState {
  powerState: string;
  virtualMediaPath?: string;
}

export interface MediaState {
  id: string;
  path: string;
  mediaTypes: string[];
  image: string;
  inserted: boolean;
}

export class RedfishClient {
  private readonly origin: string;
  private readonly systemPath: string;
  private readonly auth: string;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal;
  /** The host's name, for messages. */
  private readonly host: string;

  constructor(opts: {
    systemUrl: string;
    credentials: BmcCredentials;
    timeoutMs: number;
    signal: AbortSignal;
    host: string;
  }) {
    let u: URL;
    try {
      u = new URL(opts.systemUrl);
    } catch {
      throw new BackendError('InvalidConfiguration', `host ${opts.host}: BMC address is not a URL`);
    }
    this.origin = u.origin;
    this.systemPath = u.pathname.replace(/\/+$/, '');
    this.auth = `Basic ${Buffer.from(`${opts.credentials.username}:${opts.credentials.password}`).toString('base64')}`;
    this.timeoutMs = opts.timeoutMs;
    this.signal = opts.signal;
    this.host = opts.host;
  }

  async system(): Promise<SystemState> {
    const s = await this.call('GET', this.systemPath);
    const vm = (s.VirtualMedia as { '@odata.id'?: string } | undefined)?.['@odata.id'];
    return { powerState: String(s.PowerState ?? 'Unknown'), virtualMediaPath: vm };
  }

  /** `On`, `ForceOff`, `ForceRestart`, ... */
  async reset(type: string): Promise<void> {
    await this.call('POST', `${this.systemPath}/Actions/ComputerSystem.Reset`, { ResetType: type });
  }

  async bootOnce(target: 'Cd' | 'Pxe' | 'Hdd'): Promise<void> {
    await this.call('PATCH', this.systemPath, {
      Boot: { BootSourceOverrideTarget: target, BootSourceOverrideEnabled: 'Once' },
    });
  }

  async media(): Promise<MediaState[]> {
    const { virtualMediaPath } = await this.system();
    if (!virtualMediaPath)
      throw new BackendError('InvalidConfiguration', `host ${this.host}: the BMC offers no virtual media`);
    const coll = await this.call('GET', virtualMediaPath);
    const members = (coll.Members as { '@odata.id': string }[] | undefined) ?? [];
    return Promise.all(
      members.map(async (m) => {
        const d = await this.call('GET', m['@odata.id']);
        return {
          id: String(d.Id),
          path: m['@odata.id'],
          mediaTypes: (d.MediaTypes as string[] | undefined) ?? [],
          image: String(d.Image ?? ''),
          inserted: d.Inserted === true,
        };
      }),
    );
  }

  async insert(device: MediaState, image: string): Promise<void> {
    await this.call('POST', `${device.path}/Actions/VirtualMedia.InsertMedia`, {
      Image: image,
      Inserted: true,
      WriteProtected: true,
    });
  }

  async eject(device: MediaState): Promise<void> {
    await this.call('POST', `${device.path}/Actions/VirtualMedia.EjectMedia`, {});
  }

  private async call(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const what = `host ${this.host}: BMC ${method} ${path.replace(this.systemPath, '<system>')}`;
    let res: Response;
    try {
      res = await fetch(`${this.origin}${path}`, {
        method,
        headers: {
          authorization: this.auth,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.any([this.signal, AbortSignal.timeout(this.timeoutMs)]),
      });
    } catch (err) {
      if (this.signal.aborted) throw err;
      const why =
        (err as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : 'unreachable';
      throw new BackendError('Transient', `${what}: ${why}`);
    }
    const text = await res.text().catch(() => '');
    if (res.ok) {
      if (!text) return {};
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new BackendError('Transient', `${what}: answered with something that is not JSON`);
      }
    }
    throw mapStatus(res.status, what, bmcMessage(text), res.headers.get('retry-after'));
  }
}

/** The BMC's own message, without URLs (they may carry a token) and bounded. */
function bmcMessage(text: string): string {
  let m = text;
  try {
    const j = JSON.parse(text) as { error?: { message?: string } };
    m = j.error?.message ?? text;
  } catch {}
  return m.replace(/https?:\/\/\S+/g, '<url>').slice(0, 300);
}

export function mapStatus(
  status: number,
  what: string,
  message: string,
  retryAfter?: string | null,
): BackendError {
  const detail = `${what}: HTTP ${status}${message ? ` (${message})` : ''}`;
  if (status === 401 || status === 403)
    // The BMC's message is kept (URL-stripped) for the operator; the provider redacts known secret values too.
    return new BackendError(
      'CredentialsInvalid',
      `${what}: the BMC rejected the host's credentials (HTTP ${status}${message ? `: ${message}` : ''})`,
    );
  if (status === 429) {
    const s = Number(retryAfter);
    return new BackendError('Throttled', detail, {
      retryAfterMs: Number.isFinite(s) && s > 0 ? s * 1000 : undefined,
    });
  }
  if (status === 409) return new BackendError('Transient', detail);
  if (status === 404)
    return new BackendError('InvalidConfiguration', `${detail}: no such resource on the BMC`);
  if (status >= 400 && status < 500) return new BackendError('InvalidConfiguration', detail);
  return new BackendError('Transient', detail);
}
