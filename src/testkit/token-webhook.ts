/**
 * A bearer-token authenticator for test control planes: a small HTTPS server in the test process answering the
 * API server's TokenReviews (`--authentication-token-webhook-config-file`). Unlike a static token file, which
 * the API server reads only at start, the set of valid tokens changes at once (give the API server a short
 * `--authentication-token-webhook-cache-ttl`), and tokens can expire, as OIDC tokens do.
 *   const hook = await startTokenWebhook();
 *   hook.tokens.set('t1', { user: 'alice', expiresAt: Date.now() + 5000 });
 *   const cp = await ControlPlane.start({ tokenWebhook: hook });
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selfSignedServingCert } from '../localenv/certs.ts';

export interface TokenUser {
  user: string;
  uid?: string;
  groups?: string[];
  /** Epoch ms after which the token is refused. */
  expiresAt?: number;
}

export interface TokenWebhookOptions {
  /** Decides each review; default: look the token up in `tokens`. */
  authenticate?: (token: string) => TokenUser | undefined;
  /** The API server's cache of answers (default 100ms: expiry and revocation take effect at once). */
  cacheTtl?: string;
}

export class TokenWebhook {
  readonly url: string;
  readonly caData: string;
  /** Valid tokens; edit freely while the control plane runs. */
  readonly tokens = new Map<string, TokenUser>();
  /** Reviews answered, and how many said no. */
  readonly stats = { reviews: 0, refused: 0 };
  private readonly server: Server;
  private readonly dir: string;
  private readonly opts: TokenWebhookOptions;

  constructor(server: Server, url: string, caData: string, dir: string, opts: TokenWebhookOptions) {
    this.server = server;
    this.url = url;
    this.caData = caData;
    this.dir = dir;
    this.opts = opts;
  }

  /** Who a token belongs to right now, if anyone. */
  review(token: string): TokenUser | undefined {
    const u = this.opts.authenticate ? this.opts.authenticate(token) : this.tokens.get(token);
    return u && (u.expiresAt === undefined || Date.now() < u.expiresAt) ? u : undefined;
  }

  /** The kube-apiserver flags that point at this webhook (writes its kubeconfig into `dir`). */
  apiServerArgs(dir: string): string[] {
    const kubeconfig = join(dir, 'token-webhook.kubeconfig');
    const doc = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'webhook',
          cluster: {
            server: this.url,
            'certificate-authority-data': Buffer.from(this.caData).toString('base64'),
          },
        },
      ],
      users: [{ name: 'apiserver', user: {} }],
      contexts: [{ name: 'webhook', context: { cluster: 'webhook', user: 'apiserver' } }],
      'current-context': 'webhook',
    };
    writeFileSync(kubeconfig, JSON.stringify(doc), { mode: 0o600 });
    return [
      `--authentication-token-webhook-config-file=${kubeconfig}`,
      '--authentication-token-webhook-version=v1',
      `--authentication-token-webhook-cache-ttl=${this.opts.cacheTtl ?? '100ms'}`,
    ];
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export async function startTokenWebhook(opts: TokenWebhookOptions = {}): Promise<TokenWebhook> {
  const dir = mkdtempSync(join(tmpdir(), 'datum-token-webhook-'));
  const { cert, key } = selfSignedServingCert(dir, 'token-webhook');
  let hook: TokenWebhook | undefined;
  const server = createServer({ cert, key }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => {
      body += d;
    });
    req.on('end', () => {
      let review: { spec?: { token?: string; audiences?: string[] } } = {};
      try {
        review = JSON.parse(body);
      } catch {}
      const u = hook?.review(review.spec?.token ?? '');
      hook!.stats.reviews++;
      if (!u) hook!.stats.refused++;
      const status = u
        ? {
            authenticated: true,
            user: {
              username: u.user,
              uid: u.uid ?? u.user,
              groups: [...(u.groups ?? []), 'system:authenticated'],
            },
            audiences: review.spec?.audiences,
          }
        : { authenticated: false, error: 'unknown or expired token' };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', status }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  hook = new TokenWebhook(server, `https://127.0.0.1:${port}/tokenreview`, cert, dir, opts);
  return hook;
}
