// Writes run-time camera changes back to the YAML configuration file: through yaml's Document API
// (other keys and comments stay), atomically (temp file in the same directory, fsync, rename), and
// 0600, because the file holds camera passwords.
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import type { CameraConfig } from './config.ts';

/** The file system calls the writer uses; tests replace `rename` to simulate a crash before it. */
export interface FileOps {
  rename(from: string, to: string): Promise<void>;
}

const realOps: FileOps = { rename: (from, to) => fs.rename(from, to) };

export class CameraFile {
  constructor(readonly path: string, private readonly ops: FileOps = realOps) {}

  async add(camera: CameraConfig): Promise<void> {
    await this.edit((doc) => {
      // Edited in by hand meanwhile: two cameras with one id would stop the next start.
      if (findCamera(doc, camera.id)) throw Object.assign(new Error(`camera ${camera.id} is in the file already`), { code: 'EEXIST' });
      const list = cameraList(doc, true)!;
      list.add(doc.createNode(cameraNode(camera)));
    });
  }

  /** Rewrites the camera's fields in place (comments around them stay); false when the file has no such camera. */
  async replace(camera: CameraConfig): Promise<boolean> {
    let found = false;
    await this.edit((doc) => {
      const item = findCamera(doc, camera.id);
      if (!item) return false;
      found = true;
      // The URL is written without credentials, which go in their own keys (as the README shows).
      for (const [key, value] of Object.entries(cameraNode(camera))) item.set(key, value);
      if (camera.name === undefined) item.delete('name');
      return true;
    });
    return found;
  }

  /** False when the file has no such camera. */
  async remove(id: string): Promise<boolean> {
    let found = false;
    await this.edit((doc) => {
      const list = cameraList(doc, false);
      const index = list ? list.items.findIndex((i) => isMap(i) && i.get('id') === id) : -1;
      if (index < 0) return false;
      found = true;
      list!.delete(index);
      return true;
    });
    return found;
  }

  /** Reads the file as it is now (an operator may have edited it), applies `change`, writes it back. */
  private async edit(change: (doc: Document) => boolean | void): Promise<void> {
    const target = await fs.realpath(this.path);
    const text = await fs.readFile(target, 'utf8');
    const doc = parseDocument(text);
    if (doc.errors.length > 0) throw new Error(`the file does not parse as YAML (${doc.errors[0]!.code})`);
    if (change(doc) === false) return;
    await writeAtomically(target, doc.toString(), this.ops);
  }
}

function cameraNode(c: CameraConfig): Record<string, string> {
  const node: Record<string, string> = { id: c.id, url: c.baseUrl, username: c.username, password: c.password, model: c.model };
  if (c.name !== undefined) node.name = c.name;
  return node;
}

function cameraList(doc: Document, create: boolean): YAMLSeq | undefined {
  if (doc.contents === null || doc.contents === undefined) {
    if (!create) return undefined;
    doc.contents = doc.createNode({}) as Document['contents'];
  }
  if (!isMap(doc.contents)) throw new Error('the file is not a mapping');
  const list = doc.get('cameras', true);
  if (isSeq(list)) {
    // `cameras: []` becomes a block list: one camera per item, one key per line.
    if (create && list.items.length === 0) list.flow = false;
    return list;
  }
  if (!create) return undefined;
  // Absent, null or empty (`cameras:`): a fresh list.
  if (list !== undefined && list !== null && !(isScalar(list) && (list.value === null || list.value === ''))) {
    throw new Error('cameras is not a list');
  }
  const seq = doc.createNode([]) as YAMLSeq;
  doc.set('cameras', seq);
  return seq;
}

function findCamera(doc: Document, id: string): YAMLMap | undefined {
  const list = cameraList(doc, false);
  const item = list?.items.find((i) => isMap(i) && i.get('id') === id);
  return item as YAMLMap | undefined;
}

/** Temp file beside the target, fsync, rename over it, fsync the directory: the file is old or new, never half. */
export async function writeAtomically(path: string, text: string, ops: FileOps = realOps): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.open(temp, 'wx', 0o600);
  try {
    try {
      await handle.writeFile(text, 'utf8');
      // The mode is set on the handle too: open's mode is filtered by the umask.
      await handle.chmod(0o600);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await ops.rename(temp, path);
  } catch (err) {
    await fs.unlink(temp).catch(() => undefined);
    throw err;
  }
  // The rename itself survives a power cut only once the directory is on disk.
  try {
    const d = await fs.open(dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  } catch { /* some file systems refuse to fsync a directory; the rename is done */ }
}
