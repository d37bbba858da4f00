import { createHash } from 'node:crypto';
import exifr from 'exifr';
import sharp, { type OutputInfo } from 'sharp';
import { AppError } from '../../core/errors.ts';

/**
 * A citizen's photo, made safe to keep (issue 7): the size is checked first, the type from the bytes (never from
 * the file name or the declared content type), the GPS position is read from the EXIF data, then the image is
 * decoded and re-encoded as a JPEG by sharp (libvips), which writes no metadata unless asked: the EXIF (GPS, camera,
 * owner, time), XMP, IPTC and ICC blocks of the upload are all gone from what is stored, and any bytes hidden after
 * the image data with them. The orientation is applied to the pixels first (`rotate()`), so the photo stays upright
 * without its EXIF orientation tag. A header that claims an image whose data does not decode is refused.
 */

/** The image types accepted, recognised by their first bytes. */
export const PHOTO_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
/** An accepted image type. */
export type PhotoType = (typeof PHOTO_TYPES)[number];

/** Limits applied to a photo. */
export interface PhotoLimits {
  /** Largest upload, in bytes. */
  readonly maxBytes: number;
  /** Longest side of the stored image, in pixels (larger ones are scaled down). */
  readonly maxEdgePx: number;
  /** Most pixels the image may declare (a decompression bomb is refused before decoding). */
  readonly maxInputPixels: number;
}

/** A WGS 84 position, in degrees. */
export interface GeoPoint {
  readonly latitude: number;
  readonly longitude: number;
}

/** A photo ready to store: re-encoded, without metadata. */
export interface CleanPhoto {
  /** The JPEG bytes to store. */
  readonly bytes: Buffer;
  readonly contentType: 'image/jpeg';
  /** The type the upload was, from its bytes. */
  readonly uploadedType: PhotoType;
  readonly widthPx: number;
  readonly heightPx: number;
  /** SHA-256 of the stored bytes, hex. */
  readonly sha256: string;
  /** The position the upload's EXIF GPS block gave, if any (absent, (0, 0) or out of range: none). */
  readonly gps?: GeoPoint;
}

const JPEG_QUALITY = 82;

/** The image type the bytes start with, or undefined (JPEG FF D8 FF, PNG's 8-byte signature, RIFF….WEBP). */
export function sniffImageType(bytes: Uint8Array): PhotoType | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'image/jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 8 && png.every((b, i) => bytes[i] === b)) return 'image/png';
  const ascii = (from: number, to: number) => Buffer.from(bytes.subarray(from, to)).toString('latin1');
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'image/webp';
  return undefined;
}

/** The EXIF GPS position of an image, or undefined (none, unreadable, (0, 0) or out of range). */
export async function readGps(bytes: Uint8Array): Promise<GeoPoint | undefined> {
  try {
    const gps = (await exifr.gps(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))) as
      | { latitude?: unknown; longitude?: unknown }
      | undefined;
    const latitude = gps?.latitude;
    const longitude = gps?.longitude;
    if (typeof latitude !== 'number' || typeof longitude !== 'number') return undefined;
    if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return undefined;
    if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return undefined;
    // (0, 0) is what cameras write without a fix, not a place in the Gulf of Guinea.
    if (latitude === 0 && longitude === 0) return undefined;
    return { latitude, longitude };
  } catch {
    return undefined;
  }
}

/**
 * Checks, reads and cleans a photo. Throws ERR_REPORT_PHOTO_TOO_LARGE (over `maxBytes`), ERR_REPORT_PHOTO_UNSUPPORTED
 * (not a JPEG, PNG or WebP by its bytes: a renamed text file), ERR_REPORT_PHOTO_INVALID (an image header whose data
 * does not decode, or more pixels than allowed).
 */
export async function cleanPhoto(bytes: Buffer, limits: PhotoLimits): Promise<CleanPhoto> {
  if (bytes.length > limits.maxBytes) {
    throw new AppError('ERR_REPORT_PHOTO_TOO_LARGE', `photo: ${bytes.length} bytes (at most ${limits.maxBytes} bytes)`);
  }
  const uploadedType = sniffImageType(bytes);
  if (!uploadedType) {
    throw new AppError(
      'ERR_REPORT_PHOTO_UNSUPPORTED',
      `photo: not a JPEG, PNG or WebP image by its content (${bytes.length} bytes starting ${Buffer.from(bytes.subarray(0, 4)).toString('hex') || 'with nothing'}; send a JPEG, PNG or WebP photo)`,
    );
  }
  const gps = await readGps(bytes);
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(bytes, { limitInputPixels: limits.maxInputPixels, failOn: 'error' })
      .rotate()
      .resize({ width: limits.maxEdgePx, height: limits.maxEdgePx, fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: JPEG_QUALITY, mozjpeg: true })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0]?.slice(0, 200) ?? 'unknown';
    throw new AppError(
      'ERR_REPORT_PHOTO_INVALID',
      `photo: a ${uploadedType} header whose image does not decode (${reason}; send the photo as taken, at most ${limits.maxInputPixels} pixels)`,
      { cause: err },
    );
  }
  return {
    bytes: out.data,
    contentType: 'image/jpeg',
    uploadedType,
    widthPx: out.info.width,
    heightPx: out.info.height,
    sha256: createHash('sha256').update(out.data).digest('hex'),
    ...(gps ? { gps } : {}),
  };
}

/** An HTTP status for a photo error: 413 too large, 415 not an image type we take, 400 not decodable. */
export function photoErrorStatus(code: string): number | undefined {
  return { ERR_REPORT_PHOTO_TOO_LARGE: 413, ERR_REPORT_PHOTO_UNSUPPORTED: 415, ERR_REPORT_PHOTO_INVALID: 400 }[code];
}
