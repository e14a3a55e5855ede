// Camera calls made for a client end when the client goes away before its answer.
import type { Response } from 'express';

export async function untilClientLeaves<T>(res: Response, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const abort = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) abort.abort();
  };
  res.on('close', onClose);
  try {
    return await work(abort.signal);
  } finally {
    res.off('close', onClose);
  }
}
