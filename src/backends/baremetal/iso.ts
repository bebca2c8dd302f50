/**
 * A minimal ISO 9660 image writer for a cloud-init NoCloud seed: one root directory with a few small files and
 * a volume label (`cidata`). File names are stored as given (lower case, `-`, no `;1` version), as
 * `genisoimage -relaxed-filenames -omit-version-number` does; Linux's isofs reads them as-is. No Rock Ridge or
 * Joliet: the seed needs neither.
 */
const SECTOR = 2048;

export function buildIso(label: string, files: { name: string; data: Buffer }[]): Buffer {
  const sorted = [...files].sort((a, b) => (a.name < b.name ? -1 : 1));
  const rootLba = 20;
  const rootRecords = [dirRecord('\0', rootLba, SECTOR, true), dirRecord('\x01', rootLba, SECTOR, true)];
  let next = rootLba + 1;
  const placed = sorted.map((f) => {
    const lba = next;
    next += Math.max(1, Math.ceil(f.data.length / SECTOR));
    rootRecords.push(dirRecord(f.name, lba, f.data.length, false));
    return { lba, data: f.data };
  });
  const rootDir = Buffer.concat(rootRecords);
  if (rootDir.length > SECTOR) throw new Error('too many files for a one-sector root directory');
  const image = Buffer.alloc(next * SECTOR);
  image.set(primaryDescriptor(label, next, rootLba), 16 * SECTOR);
  image.set(Buffer.from([255, ...Buffer.from('CD001'), 1]), 17 * SECTOR);
  image.set(pathTable(rootLba, 'le'), 18 * SECTOR);
  image.set(pathTable(rootLba, 'be'), 19 * SECTOR);
  image.set(rootDir, rootLba * SECTOR);
  for (const p of placed) image.set(p.data, p.lba * SECTOR);
  return image;
}

function both32(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(n, 0);
  b.writeUInt32BE(n, 4);
  return b;
}

function both16(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(n, 0);
  b.writeUInt16BE(n, 2);
  return b;
}

function dirRecord(name: string, lba: number, size: number, directory: boolean): Buffer {
  const id = Buffer.from(name, 'latin1');
  const len = 33 + id.length + (id.length % 2 === 0 ? 1 : 0);
  const r = Buffer.alloc(len);
  r[0] = len;
  r.set(both32(lba), 2);
  r.set(both32(size), 10);
  // Recording date: 2000-01-01 00:00:00 UTC (years since 1900, month, day, h, m, s, tz).
  r.set([100, 1, 1, 0, 0, 0, 0], 18);
  r[25] = directory ? 2 : 0;
  r.set(both16(1), 28);
  r[32] = id.length;
  r.set(id, 33);
  return r;
}

function pathTable(rootLba: number, endian: 'le' | 'be'): Buffer {
  const t = Buffer.alloc(10);
  t[0] = 1;
  if (endian === 'le') {
    t.writeUInt32LE(rootLba, 2);
    t.writeUInt16LE(1, 6);
  } else {
    t.writeUInt32BE(rootLba, 2);
    t.writeUInt16BE(1, 6);
  }
  return t;
}

function primaryDescriptor(label: string, sectors: number, rootLba: number): Buffer {
  const d = Buffer.alloc(SECTOR, 0x20);
  d[0] = 1;
  d.write('CD001', 1, 'latin1');
  d[6] = 1;
  d[7] = 0;
  d.write(label.padEnd(32, ' ').slice(0, 32), 40, 'latin1');
  d.fill(0, 72, 80);
  d.set(both32(sectors), 80);
  d.fill(0, 88, 120);
  d.set(both16(1), 120);
  d.set(both16(1), 124);
  d.set(both16(SECTOR), 128);
  d.set(both32(10), 132);
  d.writeUInt32LE(18, 140);
  d.writeUInt32LE(0, 144);
  d.writeUInt32BE(19, 148);
  d.writeUInt32BE(0, 152);
  d.set(dirRecord('\0', rootLba, SECTOR, true), 156);
  // Dates: "unspecified" (16 ASCII zeros and a zero offset).
  for (const at of [813, 830, 847, 864]) {
    d.write('0'.repeat(16), at, 'latin1');
    d[at + 16] = 0;
  }
  d[881] = 1;
  d.fill(0, 882);
  return d;
}
