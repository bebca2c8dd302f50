/**
 * What a request authenticates with: a static bearer token, a token file (re-read on every request, so
 * rotated projected service-account tokens keep working), a client certificate, or an exec plugin's token or
 * certificate. As in client-go, a token written in the kubeconfig wins over the plugin's.
 */
import { readFileSync } from 'node:fs';
import type { ClusterConfig } from './config.ts';
import { type ExecCredentialProvider, execCredentialProvider } from './exec-credentials.ts';
import { describeCommand } from './exec-plugin.ts';

export interface RequestCredentials {
  token?: string;
  /** PEM. */
  certData?: string;
  keyData?: string;
}

export class Authenticator {
  private readonly cfg: ClusterConfig;
  readonly exec: ExecCredentialProvider | undefined;

  constructor(cfg: ClusterConfig) {
    this.cfg = cfg;
    this.exec = cfg.exec
      ? execCredentialProvider(cfg.exec, {
          server: cfg.server,
          tlsServerName: cfg.tlsServerName,
          insecureSkipTLSVerify: cfg.insecureSkipTLSVerify,
          caData: cfg.caData,
          proxyUrl: cfg.proxyUrl,
          disableCompression: cfg.disableCompression,
        })
      : undefined;
  }

  /** Credentials for the next request; rejects with ExecCredentialError when the plugin fails. */
  async credentials(): Promise<RequestCredentials> {
    const staticToken = this.cfg.tokenFile
      ? readFileSync(this.cfg.tokenFile, 'utf8').trim()
      : this.cfg.token || undefined;
    const fromExec = this.exec && !staticToken ? await this.exec.get() : undefined;
    const certData = fromExec?.certData ?? this.cfg.certData;
    const keyData = fromExec?.certData ? fromExec.keyData : this.cfg.keyData;
    return { token: staticToken ?? fromExec?.token, certData, keyData };
  }

  /** Whether fetching credentials again can cure a 401 (only a plugin can hand out new ones). */
  get refreshable(): boolean {
    return !!this.exec && !this.cfg.token && !this.cfg.tokenFile;
  }

  /** The server answered 401 to `used`: drop it, so the next credentials() runs the plugin. */
  unauthorized(used: RequestCredentials): void {
    this.exec?.invalidate(used);
  }

  /** Where the credential comes from, for error messages. */
  describe(): string {
    if (this.cfg.exec && this.refreshable) return `exec plugin '${describeCommand(this.cfg.exec)}'`;
    if (this.cfg.tokenFile) return `token file ${this.cfg.tokenFile}`;
    if (this.cfg.token) return 'bearer token';
    if (this.cfg.certData) return 'client certificate';
    return 'no credentials';
  }
}
