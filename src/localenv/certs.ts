/** Certificates for a local control plane, made with the openssl CLI (present on every Debian/Ubuntu image). */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`openssl ${args[0]} failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`);
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Creates (or reuses, for a persistent dir) the CA, serving cert, service-account keys and admin cert. */
export function ensurePki(dir: string): { caCert: string; caKey: string } {
  if (!existsSync(join(dir, 'ca.crt'))) {
    openssl(
      [
        'req',
        '-x509',
        ...EC,
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        '3650',
        '-subj',
        '/CN=datum-testkit-ca',
      ],
      dir,
    );
    writeFileSync(
      join(dir, 'serving.ext'),
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n',
    );
    openssl(
      ['req', ...EC, '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=localhost'],
      dir,
    );
    signCsr(dir, 'apiserver', 'serving.ext');
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key'], dir);
    openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
    clientCert(dir, 'admin', 'admin', ['system:masters']);
  }
  return { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key') };
}

function signCsr(dir: string, name: string, ext: string): void {
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '3650',
      '-extfile',
      ext,
    ],
    dir,
  );
}

/** A client certificate for `user` in `groups` (O= fields), signed by the control plane's CA. */
export function clientCert(
  dir: string,
  file: string,
  user: string,
  groups: string[],
): { cert: string; key: string } {
  if (!existsSync(join(dir, `${file}.crt`))) {
    writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    const subj = `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`;
    openssl(['req', ...EC, '-keyout', `${file}.key`, '-out', `${file}.csr`, '-subj', subj], dir);
    signCsr(dir, file, 'client.ext');
  }
  return {
    cert: readFileSync(join(dir, `${file}.crt`), 'utf8'),
    key: readFileSync(join(dir, `${file}.key`), 'utf8'),
  };
}

/** A self-signed serving certificate for 127.0.0.1 and localhost (for small HTTPS servers in tests). */
export function selfSignedServingCert(dir: string, name: string): { cert: string; key: string } {
  if (!existsSync(join(dir, `${name}.crt`))) {
    writeFileSync(
      join(dir, `${name}.ext`),
      '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:TRUE\n',
    );
    openssl(
      [
        'req',
        '-x509',
        ...EC,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.crt`,
        '-days',
        '3650',
        '-subj',
        `/CN=${name}`,
        '-config',
        `${name}.ext`,
        '-extensions',
        'ext',
      ],
      dir,
    );
  }
  return {
    cert: readFileSync(join(dir, `${name}.crt`), 'utf8'),
    key: readFileSync(join(dir, `${name}.key`), 'utf8'),
  };
}
