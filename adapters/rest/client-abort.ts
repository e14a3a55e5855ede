// Camera calls made for a client end when the client goes away before its answer.
import type { Response } from 'express';

/** `work` gets the signal, and its controller for camera calls made one after another (CallOptions.controller). */
export async function untilClientLeaves<T>(res: Response, work: (signal: AbortSignal, controller: AbortController) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.on('close', onClose);
  try {
    return await work(abort.signal, abort);
  } finally {
    res.off('close', onClose);
  }
}
