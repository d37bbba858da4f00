import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import type { Bus } from '../../core/bus/port.ts';
import { Notification, TOPICS } from '../../core/contracts/index.ts';

/** Degrees as an EXIF rational triple string (degrees, minutes, hundredths of seconds), as libvips takes it. */
function dms(value: number): string {
  const abs = Math.abs(value);
  const d = Math.floor(abs);
  const m = Math.floor((abs - d) * 60);
  const s = Math.round(((abs - d) * 60 - m) * 60 * 100);
  return `${d}/1 ${m}/1 ${s}/100`;
}

/** A real JPEG (a camera-like photo) of `widthPx` × `heightPx`, with an EXIF block holding a GPS position if given. */
export async function jpegWithGps(
  gps?: { latitude: number; longitude: number },
  size: { widthPx?: number; heightPx?: number } = {},
): Promise<Buffer> {
  const image = sharp({
    create: {
      width: size.widthPx ?? 64,
      height: size.heightPx ?? 48,
      channels: 3,
      background: { r: 120, g: 110, b: 90 },
    },
  }).jpeg();
  return image
    .withExif({
      IFD0: { Make: 'TestCam', Model: 'Phone 12', Artist: 'Jean Dupont' },
      ...(gps
        ? {
            IFD3: {
              GPSLatitudeRef: gps.latitude >= 0 ? 'N' : 'S',
              GPSLatitude: dms(gps.latitude),
              GPSLongitudeRef: gps.longitude >= 0 ? 'E' : 'W',
              GPSLongitude: dms(gps.longitude),
            },
          }
        : {}),
    })
    .toBuffer();
}

/** A real PNG or WebP image. */
export async function image(format: 'png' | 'webp'): Promise<Buffer> {
  const base = sharp({
    create: { width: 32, height: 32, channels: 4, background: { r: 0, g: 80, b: 160, alpha: 0.5 } },
  });
  return format === 'png' ? base.png().toBuffer() : base.webp().toBuffer();
}

/** Collects every notification produced to notifications.v1 from now on (a group of its own). */
export async function collectNotifications(bus: Bus): Promise<{ all: Notification[]; close(): Promise<void> }> {
  const all: Notification[] = [];
  await bus.ensureTopic(TOPICS.notifications);
  const sub = await bus.subscribe({
    groupId: `test-notifications-${randomUUID()}`,
    topics: [TOPICS.notifications],
    fromBeginning: true,
    handler: async (messages) => {
      for (const m of messages) all.push(Notification.parse(JSON.parse(m.value)));
    },
  });
  return { all, close: () => sub.close() };
}
