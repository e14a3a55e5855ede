// What the media adapters share: the camera and channel of a request, reading a bounded body,
// and turning a camera's non-image answer into the catalog's problem.
import type { Readable } from 'node:stream';
import { cameraErrorFromBody, cameraErrorFromStatus } from '../cgi/errors.ts';
import type { CameraRegistry, CameraEntry } from '../../gateway/cameras.ts';
import { ProblemError } from '../../gateway/problems.ts';
import type { Request } from 'express';

export function entryOf(cameras: CameraRegistry, req: Request): CameraEntry {
  const id = String(req.params.cameraId);
  const entry = cameras.get(id);
  if (!entry) throw new ProblemError('NOT_FOUND', { detail: `no camera ${id}` });
  return entry;
}

/** The 1-based channel of the URL (the camera's media URLs count from 1 too). */
export function channelOf(req: Request): number {
  return req.query.channel === undefined ? 1 : Number(req.query.channel);
}

export function contentTypeOf(headers: Record<string, string | string[] | undefined>): string {
  const v = headers['content-type'];
  return (Array.isArray(v) ? v[0] : v) ?? '';
}

/** Reads up to `max` bytes of a body; more is a protocol error (a camera is not a file server). */
export async function readAll(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > max) {
      body.destroy();
      throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `the camera sent more than ${max} bytes for one image` });
    }
    chunks.push(b);
  }
  return Buffer.concat(chunks, size);
}

/**
 * The problem for an answer that is not the media asked for: an error status, the camera's
 * `Error` body (sent with 200), or something else entirely.
 */
export function answerProblem(status: number, contentType: string, head: Buffer): ProblemError {
  const text = head.subarray(0, 4096).toString('latin1');
  return cameraErrorFromStatus(status, text)
    ?? cameraErrorFromBody(text)
    ?? new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `the camera answered ${status} ${contentType.slice(0, 80) || 'without a content type'} instead of the media` });
}
