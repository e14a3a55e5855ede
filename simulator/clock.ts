// The camera's clock: local wall time in the camera's time zone (NTP.TimeZone), like a real
// camera, plus an offset that setCurrentTime moves. Camera time is a naive wall-clock time, so it
// is computed and formatted in UTC fields. Changing the zone moves the wall time, not the instant.
// (Daylight saving is not simulated: the seed has DSTEnable=false.)

/** Minutes east of UTC per NTP.TimeZone index: this firmware family's SDK list (0..32). */
const ZONES: readonly number[] = [
  0, 60, 120, 180, 210, 240, 270, 300, 330, 345, 360, 390, 420, 480, 540, 570, 600, 660, 720, 780,
  -60, -120, -180, -210, -240, -300, -360, -420, -480, -540, -600, -660, -720,
];

export class CameraClock {
  private offsetMs = 0;
  /** `zoneIndex` reads the camera's current NTP.TimeZone. */
  constructor(private readonly now: () => number = Date.now, private readonly zoneIndex: () => string | undefined = () => '0') {}

  private zoneMs(): number {
    return (ZONES[Number(this.zoneIndex())] ?? 0) * 60_000;
  }

  current(): Date {
    return new Date(this.now() + this.zoneMs() + this.offsetMs);
  }

  set(time: Date): void {
    this.offsetMs = time.getTime() - this.now() - this.zoneMs();
  }

  reset(): void {
    this.offsetMs = 0;
  }
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

// As the vendor example `2011-7-3 21:02:32`: month and day unpadded, time padded.
export function formatCameraTime(d: Date): string {
  return `${d.getUTCFullYear()}-${d.getUTCMonth() + 1}-${d.getUTCDate()} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

// `2016-01-01 21:02:32` or `2016-1-1 21:2:32`; null when not a real date and time.
export function parseCameraTime(text: string): Date | null {
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2}) (\d{1,2}):(\d{1,2}):(\d{1,2})$/.exec(text);
  if (!m) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return null;
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;   // 2023-2-30
  return date;
}
