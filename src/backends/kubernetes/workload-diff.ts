/**
 * What differs between the workload we would build (Pod or VirtualMachine) and the one that runs, one short line
 * per difference, for plan and for accepting an adopted workload. Both sides go through the same projection
 * (only the fields we set), so server defaults never count as differences. Env values are never printed: an
 * env difference names the container only, as a value may come from a Secret.
 */
import type { KubeObject } from '../../runtime/client/types.ts';

type Obj = Record<string, unknown>;
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
const obj = (v: unknown): Obj => (v && typeof v === 'object' ? (v as Obj) : {});
/** Maps with sorted keys, so key order never counts. */
const sorted = (v: unknown): Obj =>
  Object.fromEntries(Object.entries(obj(v)).sort(([a], [b]) => a.localeCompare(b)));

function resources(r: unknown): string {
  const q = (m: unknown) =>
    Object.entries(sorted(m))
      .map(([k, v]) => `${k} ${String(v)}`)
      .join(', ');
  const o = obj(r);
  return `requests {${q(o.requests)}} limits {${q(o.limits)}}`;
}

function containerView(c: Obj) {
  return {
    env: arr(c.env).map((e) => {
      const ref = obj(obj(e.valueFrom).secretKeyRef);
      return [e.name, e.value ?? null, ref.name ? `${String(ref.name)}/${String(ref.key)}` : null];
    }),
    ports: arr(c.ports).map((p) => [p.name ?? null, p.containerPort, p.protocol ?? 'TCP']),
    mounts: arr(c.volumeMounts).map((m) => [m.name, m.mountPath, m.subPath ?? null, !!m.readOnly]),
  };
}

function volumesView(spec: Obj) {
  return arr(spec.volumes).map((v) => {
    const src = obj(v.configMap ?? v.secret);
    return {
      name: v.name,
      from: v.configMap
        ? `configMap ${String(src.name)}`
        : v.secret
          ? `secret ${String(src.secretName)}`
          : 'other',
      items: arr(src.items).map((i) => [i.key, i.path, i.mode ?? null]),
    };
  });
}

function tolerations(spec: Obj): string[] {
  return arr(spec.tolerations)
    .map((t) => `${String(t.key ?? '')}:${String(t.operator ?? 'Equal')}:${String(t.effect ?? '')}`)
    .filter((t) => !t.startsWith('node.kubernetes.io/')) // added by the API server to every Pod
    .sort();
}

export interface PodDiff {
  /** Differences a Pod cannot take in place. */
  fixed: string[];
  /** Container images to change in place (the one mutable part of a Pod's containers). */
  images: { index: number; name: string; from: string; to: string }[];
}

/** `want` (built by buildPod) against the live Pod. */
export function diffPod(live: KubeObject, want: KubeObject): PodDiff {
  const ls = obj(live.spec);
  const ws = obj(want.spec);
  const liveCs = arr(ls.containers);
  const fixed: string[] = [];
  const images: PodDiff['images'] = [];
  for (const w of arr(ws.containers)) {
    const name = String(w.name);
    const index = liveCs.findIndex((c) => c.name === name);
    const l = liveCs[index];
    if (!l) {
      fixed.push(`container ${name}: missing`);
      continue;
    }
    if (l.image !== w.image) images.push({ index, name, from: String(l.image), to: String(w.image) });
    const lv = containerView(l);
    const wv = containerView(w);
    if (!same(lv.env, wv.env)) fixed.push(`container ${name}: environment`);
    if (!same(lv.ports, wv.ports)) fixed.push(`container ${name}: ports`);
    if (!same(lv.mounts, wv.mounts)) fixed.push(`container ${name}: file mounts`);
    const lr = resources(l.resources);
    const wr = resources(w.resources);
    if (lr !== wr) fixed.push(`container ${name} resources: ${lr} → ${wr}`);
  }
  for (const l of liveCs)
    if (!arr(ws.containers).some((w) => w.name === l.name))
      fixed.push(`container ${String(l.name)}: not in the Instance`);
  if (!same(volumesView(ls), volumesView(ws))) fixed.push('volumes (files)');
  if (!same(sorted(ls.nodeSelector), sorted(ws.nodeSelector)))
    fixed.push(
      `node selector: ${JSON.stringify(sorted(ls.nodeSelector))} → ${JSON.stringify(sorted(ws.nodeSelector))}`,
    );
  if (!same(tolerations(ls), tolerations(ws)))
    fixed.push(
      `tolerations: ${tolerations(ls).join(',') || 'none'} → ${tolerations(ws).join(',') || 'none'}`,
    );
  return { fixed, images };
}

/** Every Pod difference as lines (images included). */
export function podLines(d: PodDiff): string[] {
  return [...d.images.map((i) => `container ${i.name} image: ${i.from} → ${i.to}`), ...d.fixed];
}

function vmView(vm: KubeObject) {
  const t = obj(obj(obj(vm.spec).template).spec);
  const domain = obj(t.domain);
  const volumes = arr(t.volumes);
  const disk = volumes.find((v) => v.containerDisk);
  const init = volumes.find((v) => v.cloudInitNoCloud);
  return {
    image: String(obj(disk?.containerDisk).image ?? '(none)'),
    cores: String(obj(domain.cpu).cores ?? '(unset)'),
    memory: String(obj(obj(domain.resources).requests).memory ?? obj(domain.memory).guest ?? '(unset)'),
    gpus: arr(obj(domain.devices).gpus).map((g) => String(g.deviceName)),
    cloudInit: init ? String(obj(obj(init.cloudInitNoCloud).secretRef).name ?? '(inline)') : '(none)',
    nodeSelector: sorted(t.nodeSelector),
    tolerations: tolerations(t),
    runStrategy: String(obj(vm.spec).runStrategy ?? (obj(vm.spec).running ? 'Always' : '(unset)')),
  };
}

/** `want` (built by buildVirtualMachine) against the live VirtualMachine. */
export function diffVm(live: KubeObject, want: KubeObject): string[] {
  const l = vmView(live);
  const w = vmView(want);
  const out: string[] = [];
  if (l.image !== w.image) out.push(`container disk: ${l.image} → ${w.image}`);
  if (l.cores !== w.cores) out.push(`cpu cores: ${l.cores} → ${w.cores}`);
  if (l.memory !== w.memory) out.push(`memory: ${l.memory} → ${w.memory}`);
  if (!same(l.gpus, w.gpus)) out.push(`gpus: ${l.gpus.length} → ${w.gpus.length}`);
  if (l.cloudInit !== w.cloudInit) out.push(`cloud-init: ${l.cloudInit} → Secret ${w.cloudInit}`);
  if (!same(l.nodeSelector, w.nodeSelector))
    out.push(`node selector: ${JSON.stringify(l.nodeSelector)} → ${JSON.stringify(w.nodeSelector)}`);
  if (!same(l.tolerations, w.tolerations))
    out.push(`tolerations: ${l.tolerations.join(',') || 'none'} → ${w.tolerations.join(',') || 'none'}`);
  if (l.runStrategy !== w.runStrategy) out.push(`run strategy: ${l.runStrategy} → ${w.runStrategy}`);
  return out;
}

/** JSON Pointer escaping of one path segment (label keys contain `/`). */
export const pointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');
