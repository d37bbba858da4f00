import exifr from 'exifr';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { AppError } from '../../core/errors.ts';
import { cleanPhoto, readGps, sniffImageType } from './photo.ts';
import { image, jpegWithGps } from './test-helpers.ts';

const LIMITS = { maxBytes: 1024 * 1024, maxEdgePx: 2048, maxInputPixels: 50_000_000 };
const PARIS = { latitude: 48.8584, longitude: 2.2945 };

async function refusal(bytes: Buffer, limits = LIMITS): Promise<AppError | undefined> {
  return cleanPhoto(bytes, limits).then(
    () => undefined,
    (err: unknown) => err as AppError,
  );
}

describe('photo', () => {
  it('reads the EXIF GPS position and stores bytes with no EXIF left when a phone photo carries one', async () => {
    const upload = await jpegWithGps(PARIS);
    // The upload really holds the GPS block and the owner's name.
    expect(upload.includes(Buffer.from('Exif\0\0', 'latin1'))).toBe(true);
    expect(upload.includes(Buffer.from('Jean Dupont'))).toBe(true);
    const photo = await cleanPhoto(upload, LIMITS);
    expect(photo.gps?.latitude).toBeCloseTo(PARIS.latitude, 4);
    expect(photo.gps?.longitude).toBeCloseTo(PARIS.longitude, 4);
    expect(photo).toMatchObject({ contentType: 'image/jpeg', uploadedType: 'image/jpeg', widthPx: 64, heightPx: 48 });
    // Nothing of the EXIF block survives: no APP1 "Exif" segment, no GPS for exifr, none for libvips.
    expect(sniffImageType(photo.bytes)).toBe('image/jpeg');
    expect(photo.bytes.includes(Buffer.from('Exif\0\0', 'latin1'))).toBe(false);
    expect(photo.bytes.includes(Buffer.from('Jean Dupont'))).toBe(false);
    expect(await exifr.parse(photo.bytes)).toBeUndefined();
    expect(await readGps(photo.bytes)).toBeUndefined();
    expect((await sharp(photo.bytes).metadata()).exif).toBeUndefined();
  });

  it('accepts PNG and WebP by their bytes, re-encoded as JPEG, when they have no GPS', async () => {
    for (const format of ['png', 'webp'] as const) {
      const photo = await cleanPhoto(await image(format), LIMITS);
      expect(photo.uploadedType).toBe(`image/${format}`);
      expect(photo.contentType).toBe('image/jpeg');
      expect(sniffImageType(photo.bytes)).toBe('image/jpeg');
      expect(photo.gps).toBeUndefined();
    }
  });

  it('scales a large photo down to the longest side allowed when it is bigger', async () => {
    const photo = await cleanPhoto(await jpegWithGps(undefined, { widthPx: 1200, heightPx: 600 }), {
      ...LIMITS,
      maxEdgePx: 400,
    });
    expect([photo.widthPx, photo.heightPx]).toEqual([400, 200]);
  });

  it('refuses a renamed text file (unsupported), a fake JPEG header (invalid), and an oversized upload', async () => {
    expect((await refusal(Buffer.from('hello, this is not an image\n')))?.code).toBe('ERR_REPORT_PHOTO_UNSUPPORTED');
    expect((await refusal(Buffer.from('GIF89a……')))?.code).toBe('ERR_REPORT_PHOTO_UNSUPPORTED');
    const fake = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('x'.repeat(500))]);
    const invalid = await refusal(fake);
    expect(invalid?.code).toBe('ERR_REPORT_PHOTO_INVALID');
    expect(invalid?.message).toContain('image/jpeg header');
    const fakeWebp = Buffer.concat([Buffer.from('RIFF\0\0\0\0WEBPVP8 ', 'latin1'), Buffer.alloc(64, 7)]);
    expect((await refusal(fakeWebp))?.code).toBe('ERR_REPORT_PHOTO_INVALID');
    const big = await jpegWithGps(PARIS);
    expect((await refusal(big, { ...LIMITS, maxBytes: big.length - 1 }))?.code).toBe('ERR_REPORT_PHOTO_TOO_LARGE');
  });

  it('refuses a decompression bomb when the image declares more pixels than allowed', async () => {
    const wide = await jpegWithGps(undefined, { widthPx: 3000, heightPx: 1000 });
    expect((await refusal(wide, { ...LIMITS, maxInputPixels: 1_000_000 }))?.code).toBe('ERR_REPORT_PHOTO_INVALID');
  });
});
