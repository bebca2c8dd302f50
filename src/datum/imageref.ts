/**
 * OCI / Docker image references (the grammar of github.com/distribution/reference), checked before anything
 * is created: a malformed reference would otherwise reach a container host that cannot report the failure.
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [ domain "/" ] path-component [ "/" path-component ]*      (at most 255 characters)
 *   domain     := host [ ":" port ]      host: DNS name, or [IPv6]; a first component is a domain only if it
 *                                        has a ".", ":" or upper-case letter, or is "localhost" (docker's rule)
 *   path-comp  := [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )*
 *   tag        := [\w][\w.-]{0,127}
 *   digest     := algorithm ":" hex      algorithm: [A-Za-z][A-Za-z0-9]* joined by [-_+.]; hex: 32+ hex digits
 */

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const ALGORITHM = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*';
const PATH = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const REFERENCE = new RegExp(
  `^(?:(${DOMAIN})/)?(${PATH})(?::(${TAG}))?(?:@(${ALGORITHM}):([0-9a-fA-F]{32,}))?$`,
);
/** Registered algorithms have a fixed length (distribution/digest). */
const DIGEST_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

export interface ImageReference {
  domain?: string;
  path: string;
  tag?: string;
  digest?: string;
}

/** The parts of a reference, or a sentence saying what is wrong with it. */
export function parseImageReference(ref: string): ImageReference | { error: string } {
  if (!ref) return { error: 'it is empty' };
  if (ref !== ref.trim()) return { error: 'it has leading or trailing white space' };
  const m = REFERENCE.exec(ref);
  if (!m) {
    return {
      error:
        'it does not match [registry[:port]/]name[:tag][@algorithm:hex] (name components lower-case ' +
        'letters and digits separated by ".", "_", "__" or "-"; tag up to 128 of letters, digits, "_", "." and "-")',
    };
  }
  const [, first, rest, tag, algorithm, hex] = m;
  let domain = first;
  let path = rest!;
  // docker's rule: a lower-case first component without "." or ":" that is not "localhost" is part of the
  // path (e.g. library/nginx); the grammar guarantees it is then a valid path component.
  if (domain && !/[.:]/.test(domain) && domain !== 'localhost' && domain === domain.toLowerCase()) {
    path = `${domain}/${path}`;
    domain = undefined;
  }
  const name = domain ? `${domain}/${path}` : path;
  if (name.length > 255) return { error: `its name is ${name.length} characters long (at most 255)` };
  if (algorithm) {
    const want = DIGEST_LENGTH[algorithm];
    if (want && hex!.length !== want)
      return { error: `a ${algorithm} digest has ${want} hex digits, not ${hex!.length}` };
  }
  return { domain, path, tag, digest: algorithm ? `${algorithm}:${hex}` : undefined };
}

export function isImageReference(ref: string): boolean {
  return !('error' in parseImageReference(ref));
}
