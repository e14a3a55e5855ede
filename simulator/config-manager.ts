// configManager.cgi: getConfig, setConfig, restore, restoreExcept over the flat store.
import { sectionSupported, tableSection, type CameraContext, type CgiHandler } from './camera.ts';
import { cameraError, ok, text, type Reply } from './replies.ts';
import { canonicalKey, tableOf } from './state.ts';

// ErrorID 3 when the table's section is N/A on this model, 4 when the camera has no such table.
function checkTable(camera: CameraContext, name: string): Reply | null {
  const table = tableOf(name);
  if (table === '') return cameraError(4);
  if (!sectionSupported(camera, tableSection(camera, table))) return cameraError(3);
  if (!camera.state.tableExists(name)) return cameraError(4);
  return null;
}

export const getConfig: CgiHandler = ({ url, camera }) => {
  const name = canonicalKey(url.get('name') ?? '');
  const refused = checkTable(camera, name);
  if (refused) return refused;
  return text(camera.state.lines(name).join('\r\n'));
};

// Atomic over tables: one unknown table and nothing is written. Keys a known table does not
// have are ignored without a word, as the camera does (the gateway's read-back catches it).
export const setConfig: CgiHandler = ({ url, camera }) => {
  const pairs = url.params.filter(([k]) => k !== 'action').map(([k, v]) => [canonicalKey(k), v] as [string, string]);
  if (pairs.length === 0) return cameraError(1);
  for (const [key] of pairs) {
    const refused = checkTable(camera, tableOf(key));
    if (refused) return refused;
  }
  for (const [key, value] of pairs) {
    const full = `table.${key}`;
    if (camera.state.has(full)) camera.state.set(full, value);
  }
  return ok();
};

function listedNames(params: Array<[string, string]>): string[] {
  return params.filter(([k]) => /^names\[\d+\]$/.test(k)).map(([, v]) => canonicalKey(v));
}

function restoreWith(except: boolean): CgiHandler {
  return ({ url, camera }) => {
    const names = listedNames(url.params);
    if (names.length === 0) return cameraError(1);
    for (const name of names) {
      const refused = checkTable(camera, name);
      if (refused) return refused;
    }
    const listed = new Set(names.map(tableOf));
    camera.state.restoreTables((table) => listed.has(table) !== except);
    return ok();
  };
}

export const restore = restoreWith(false);
export const restoreExcept = restoreWith(true);
