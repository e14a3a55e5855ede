// Motion detection grids (vendor §4.8.1) as rows of '0'/'1' (x-handler motionRegions). The camera
// keeps each of a window's 18 rows as one integer whose bit n is block n+1 from the left; people
// and scripts want to see and draw the grid.
import type { Request, Response } from 'express';
import type { Camera } from '../cgi/camera.ts';
import type { CgiDoc, CgiNode } from '../cgi/codec.ts';
import { ProblemError, type FieldError } from '../../gateway/problems.ts';
import { untilClientLeaves } from './client-abort.ts';
import type { HandlerFactory } from './handlers.ts';
import { channelIndex } from './translator.ts';

export const REGION_ROWS = 18;
export const REGION_COLUMNS = 22;
const ROW_PATTERN = /^[01]{22}$/;
const TABLE = 'MotionDetect';
// The set notice of §4.8.1: a Region change is taken only with this key alongside.
const DETECT_VERSION = 'V3.0';

export interface RegionGrid {
  region: string[];
}

/** 3 → '1100000000000000000000': block n+1 from the left is bit n. */
export function rowToString(value: number): string {
  let row = '';
  for (let n = 0; n < REGION_COLUMNS; n++) row += Math.floor(value / 2 ** n) % 2 === 1 ? '1' : '0';
  return row;
}

/** '1100000000000000000000' → 3. The row has been checked against ROW_PATTERN. */
export function stringToRow(row: string): number {
  let value = 0;
  for (let n = 0; n < REGION_COLUMNS; n++) if (row[n] === '1') value += 2 ** n;
  return value;
}

/** Field errors of a PUT body; the document's schema says the same, this guards the camera on its own. */
export function gridErrors(body: unknown): FieldError[] {
  const errors: FieldError[] = [];
  const windows = (body as { windows?: unknown } | null)?.windows;
  if (!Array.isArray(windows) || windows.length === 0) return [{ pointer: '/windows', message: 'must be a list of 1 to 4 windows' }];
  if (windows.length > 4) errors.push({ pointer: '/windows', message: 'the camera has at most 4 detection windows' });
  windows.forEach((w: unknown, i) => {
    if (w === null) return;
    const region = (w as { region?: unknown } | undefined)?.region;
    if (!Array.isArray(region) || region.length !== REGION_ROWS) {
      errors.push({ pointer: `/windows/${i}/region`, message: `must be ${REGION_ROWS} rows` });
      return;
    }
    region.forEach((row: unknown, r) => {
      if (typeof row !== 'string' || !ROW_PATTERN.test(row)) {
        errors.push({ pointer: `/windows/${i}/region/${r}`, message: `must be ${REGION_COLUMNS} characters 0 or 1` });
      }
    });
  });
  return errors;
}


function protocolError(detail: string): ProblemError {
  return new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `${detail}; motion-detect shows the raw table` });
}

/** The grids of one channel's windows, from a parsed `getConfig&name=MotionDetect` answer. */
export function gridsOf(doc: CgiDoc, index: number, warn: (message: string) => void): RegionGrid[] {
  const table = doc[TABLE];
  if (!Array.isArray(table)) throw protocolError(`the camera's answer has no ${TABLE} table`);
  const entry = table[index];
  if (entry === undefined || entry === null) {
    throw new ProblemError('NOT_FOUND', { detail: `the camera has no channel ${index + 1} in ${TABLE}` });
  }
  if (typeof entry !== 'object' || Array.isArray(entry)) throw protocolError(`${TABLE}[${index}] is not a table`);
  const windows = entry.MotionDetectWindow;
  if (windows === undefined) return [];
  if (!Array.isArray(windows)) throw protocolError(`${TABLE}[${index}].MotionDetectWindow is not a list`);
  return windows.map((w: CgiNode, i) => {
    const rows = w !== null && typeof w === 'object' && !Array.isArray(w) ? w.Region : undefined;
    if (!Array.isArray(rows) || rows.length !== REGION_ROWS) {
      throw protocolError(`window ${i} of channel ${index + 1} does not have ${REGION_ROWS} region rows`);
    }
    return {
      region: rows.map((raw: CgiNode, r) => {
        const text = typeof raw === 'string' ? raw.trim() : '';
        const value = Number(text);
        if (!/^\d{1,10}$/.test(text) || value > 0xffffffff) throw protocolError(`window ${i} row ${r} is not a row of blocks`);
        // The vendor document calls a row 32 bits wide but only 22 blocks exist.
        if (value >= 2 ** REGION_COLUMNS) warn(`${TABLE}[${index}].MotionDetectWindow[${i}].Region[${r}]=${text} has bits past block ${REGION_COLUMNS}`);
        return rowToString(value);
      }),
    };
  });
}


async function readGrids(camera: Camera, index: number, signal: AbortSignal, warn: (m: string) => void): Promise<RegionGrid[]> {
  return gridsOf(await camera.getConfig(TABLE, { signal }), index, warn);
}

export const motionRegions: HandlerFactory = (ctx, op) => {
  const warn = (message: string) => ctx.warn({ operationId: op.operationId }, message);

  if (op.method === 'get') {
    return (req, res) =>
      untilClientLeaves(res, async (signal) => {
        const camera = ctx.camera(req);
        res.json({ windows: await readGrids(camera, channelIndex(req), signal, warn) });
      });
  }

  if (op.method === 'put') {
    return (req, res) =>
      untilClientLeaves(res, async (signal) => {
        const errors = gridErrors(req.body);
        if (errors.length > 0) throw new ProblemError('VALIDATION_FAILED', { errors });
        const sent = (req.body as { windows: Array<RegionGrid | null> }).windows;
        const camera = ctx.camera(req);
        const index = channelIndex(req);
        const head = `${TABLE}[${index}]`;
        const params: Array<[string, string]> = [];
        sent.forEach((w, i) => {
          w?.region.forEach((row, r) => params.push([`${head}.MotionDetectWindow[${i}].Region[${r}]`, String(stringToRow(row))]));
        });
        if (params.length === 0) {
          throw new ProblemError('VALIDATION_FAILED', { errors: [{ pointer: '/windows', message: 'nothing to change: every window is null' }] });
        }
        params.push([`${head}.DetectVersion`, DETECT_VERSION]);
        await camera.setConfig(params, { signal });
        const windows = await readGrids(camera, index, signal, warn);
        const ignoredFields: string[] = [];
        sent.forEach((w, i) => {
          w?.region.forEach((row, r) => {
            if (windows[i]?.region[r] !== row) ignoredFields.push(`/windows/${i}/region/${r}`);
          });
        });
        res.json({ windows, ignoredFields });
      });
  }

  throw new Error(`${op.operationId}: motionRegions serves GET and PUT only`);
};
