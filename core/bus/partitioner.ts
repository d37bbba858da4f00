/**
 * Kafka's default partitioner for keyed messages (the Java client's and kafkajs's `DefaultPartitioner`): murmur2 of
 * the key's UTF-8 bytes, made positive, modulo the partition count. The in-process bus uses it too, so a device's
 * readings land in the same partition number on either bus, and processor state saved per partition stays valid
 * when a deployment moves from one to the other (with the same partition count).
 */

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/** Kafka's murmur2 (32-bit) of `data`. */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const body = length & ~3;
  for (let i = 0; i < body; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The tail bytes (what Java's switch does by falling through from case 3 to case 1).
  const tail = length & 3;
  if (tail >= 3) h ^= data[body + 2]! << 16;
  if (tail >= 2) h ^= data[body + 1]! << 8;
  if (tail >= 1) {
    h ^= data[body]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partition of a keyed message among `partitions`, as Kafka's default partitioner chooses it. */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}
