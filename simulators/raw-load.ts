import { connect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { telemetryTopic } from '../core/contracts/topics.ts';
import { benchDeviceId } from './load.ts';

/**
 * A lean MQTT 3.1.1 load generator for the ingest scenarios of `vigie bench`: raw TCP sockets, PUBLISH packets
 * encoded by hand, PUBACKs read with mqtt-packet. mqtt.js spends more CPU per message than the broker under test,
 * so on a 2-core machine it, not the broker, would be what is measured.
 *
 * - `device`: one connection per meter, QoS 1, one packet per TCP write, `window` publishes unacknowledged at most.
 * - `gateway`: concentrators publishing QoS 0 for the meters behind them, `batch` packets per write: with
 *   `readingsPerMessage` 1, one packet per reading under the meter's own topic; with K > 1, batch messages of K
 *   readings (`vigie/v1/<kind>/<gatewayId>/batch`, ingest/decode.ts), as a concentrator uploads what it collected.
 * - `idle`: connections that only connect and keep alive (memory per connection).
 * With `ratePerSec`, publishes are paced to that total (open loop); otherwise each connection sends as fast as its
 * window (QoS 1) or its socket (QoS 0: a write waits for `drain`, which is TCP's backpressure) allows.
 */
export interface RawLoadOptions {
  readonly host: string;
  readonly port: number;
  readonly scenario: 'device' | 'gateway' | 'idle';
  readonly connections: number;
  readonly secret: string;
  readonly seconds: number;
  /** QoS 1: unacknowledged publishes per connection (default 4). */
  readonly window?: number;
  /** Packets per TCP write (default 1; gateways batch). */
  readonly batch?: number;
  /** `gateway` only: readings per MQTT message (default 1: a packet per reading on the meter's topic). */
  readonly readingsPerMessage?: number;
  /** Meters behind each gateway (`gateway` only, default 100). */
  readonly devicesPerGateway?: number;
  /** Total publishes per second to aim at; absent = as fast as the broker lets. */
  readonly ratePerSec?: number;
  /** Event time of the first reading, epoch ms. */
  readonly startMs: number;
}

/** What the generator measured. */
export interface RawLoadResult {
  readonly connected: number;
  readonly refused: number;
  /** Readings published (a batch message counts its readings). */
  readonly published: number;
  /** Readings acknowledged (QoS 1) or written to the socket (QoS 0). */
  readonly acked: number;
  readonly errors: number;
  readonly elapsedMs: number;
  /** When publishing started, epoch ms (the caller's clock is the same machine's). */
  readonly startedAtMs: number;
  /** Acknowledged (or written) per second of the run, for recovery after a flood. */
  readonly perSecond: number[];
}

/** The id of bench gateway `g` (from 0). */
export function benchGatewayId(g: number): string {
  return `BENCHGW-${String(g + 1).padStart(4, '0')}`;
}

/** Meter `j` behind gateway `g`. */
export function benchGatewayMeterId(g: number, j: number, devicesPerGateway: number): string {
  return benchDeviceId(g * devicesPerGateway + j);
}

interface Conn {
  readonly socket: Socket;
  readonly clientId: string;
  /** The meters this connection publishes for (itself, or the meters behind a gateway). */
  readonly meters: readonly string[];
  /** Their telemetry topics. */
  readonly topics: readonly string[];
  /** The gateway's batch topic. */
  readonly batchTopic: string;
  inFlight: number;
  nextId: number;
  seq: number;
  writable: boolean;
  open: boolean;
}

/** Encodes MQTT's remaining length. */
function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/** A PUBLISH packet (MQTT 3.1.1 §3.3) with QoS 0 or 1. */
export function encodePublish(topic: string, payload: string, qos: 0 | 1, messageId: number): Buffer {
  const topicBytes = Buffer.from(topic, 'utf8');
  const payloadBytes = Buffer.from(payload, 'utf8');
  const length = 2 + topicBytes.length + (qos === 1 ? 2 : 0) + payloadBytes.length;
  const header = remainingLength(length);
  const buf = Buffer.allocUnsafe(1 + header.length + length);
  let o = 0;
  buf[o++] = qos === 1 ? 0x32 : 0x30;
  for (const b of header) buf[o++] = b;
  buf.writeUInt16BE(topicBytes.length, o);
  o += 2;
  topicBytes.copy(buf, o);
  o += topicBytes.length;
  if (qos === 1) {
    buf.writeUInt16BE(messageId, o);
    o += 2;
  }
  payloadBytes.copy(buf, o);
  return buf;
}

/** Runs the load; resolves when every connection is closed. */
export async function runRawLoad(options: RawLoadOptions): Promise<RawLoadResult> {
  const qos: 0 | 1 = options.scenario === 'gateway' ? 0 : 1;
  const window = options.window ?? 4;
  const batch = Math.max(1, options.batch ?? 1);
  const perGateway = options.devicesPerGateway ?? 100;
  const perMessage = options.scenario === 'gateway' ? Math.max(1, options.readingsPerMessage ?? 1) : 1;
  const intervalMs = 15 * 60_000;
  let published = 0;
  let acked = 0;
  let errors = 0;
  let refused = 0;
  const perSecond: number[] = [];
  let started = 0;
  const count = (n: number) => {
    acked += n;
    if (started > 0) {
      const second = Math.floor((Date.now() - started) / 1_000);
      perSecond[second] = (perSecond[second] ?? 0) + n;
    }
  };

  const conns: Conn[] = [];
  const connectOne = (i: number) =>
    new Promise<Conn | undefined>((resolve) => {
      const gateway = options.scenario === 'gateway';
      const clientId = gateway ? benchGatewayId(i) : benchDeviceId(i);
      const meters = gateway
        ? Array.from({ length: perGateway }, (_, j) => benchGatewayMeterId(i, j, perGateway))
        : [clientId];
      const socket = connect({ host: options.host, port: options.port, noDelay: true });
      const conn: Conn = {
        socket,
        clientId,
        meters,
        topics: meters.map((id) => telemetryTopic('water-meter', id)),
        batchTopic: `vigie/v1/water-meter/${clientId}/batch`,
        inFlight: 0,
        nextId: 1,
        seq: 0,
        writable: true,
        open: false,
      };
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      let settled = false;
      const settle = (value: Conn | undefined) => {
        if (!settled) {
          settled = true;
          resolve(value);
        }
      };
      parser.on('packet', (packet) => {
        if (packet.cmd === 'connack') {
          if (packet.returnCode === 0) {
            conn.open = true;
            settle(conn);
          } else {
            refused += 1;
            socket.destroy();
            settle(undefined);
          }
        } else if (packet.cmd === 'puback') {
          conn.inFlight -= 1;
          count(1);
          pump(conn);
        }
      });
      socket.on('data', (chunk) => parser.parse(chunk));
      socket.on('drain', () => {
        conn.writable = true;
        pump(conn);
      });
      socket.on('error', () => {
        errors += 1;
        settle(undefined);
      });
      socket.on('close', () => {
        conn.open = false;
        settle(undefined);
      });
      socket.write(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: true,
          clientId,
          keepalive: 600,
          username: clientId,
          password: Buffer.from(options.secret),
        }),
      );
    });

  for (let i = 0; i < options.connections; i += 200) {
    const batchConns = await Promise.all(
      Array.from({ length: Math.min(200, options.connections - i) }, (_, k) => connectOne(i + k)),
    );
    for (const c of batchConns) if (c) conns.push(c);
  }

  /** Allowed publishes so far when paced; Infinity when not. */
  let budget = options.ratePerSec ? 0 : Number.POSITIVE_INFINITY;
  let running = options.scenario !== 'idle';

  /** The JSON of reading `n` of `conn` (meters in turn, every 15 min of event time), `deviceId` first in a batch. */
  function readingJson(conn: Conn, n: number, withDeviceId: boolean): string {
    const round = Math.floor(n / conn.meters.length);
    const ts = new Date(options.startMs + round * intervalMs).toISOString();
    const device = withDeviceId ? `"deviceId":"${conn.meters[n % conn.meters.length]}",` : '';
    return `{${device}"ts":"${ts}","seq":${n},"metrics":{"indexL":${100_000 + round},"batteryPct":90}}`;
  }

  function nextPacket(conn: Conn): Buffer {
    let topic: string;
    let payload: string;
    if (perMessage === 1) {
      const n = conn.seq++;
      topic = conn.topics[n % conn.topics.length]!;
      payload = readingJson(conn, n, false);
    } else {
      topic = conn.batchTopic;
      const items: string[] = [];
      for (let k = 0; k < perMessage; k++) items.push(readingJson(conn, conn.seq++, true));
      payload = `[${items.join(',')}]`;
    }
    let messageId = 0;
    if (qos === 1) {
      messageId = conn.nextId;
      conn.nextId = conn.nextId === 65_535 ? 1 : conn.nextId + 1;
      conn.inFlight += 1;
    }
    published += perMessage;
    budget -= perMessage;
    return encodePublish(topic, payload, qos, messageId);
  }

  function pump(conn: Conn): void {
    if (!running || !conn.open) return;
    while (conn.writable && budget >= perMessage && (qos === 0 || conn.inFlight < window)) {
      const n = Math.min(batch, qos === 1 ? window - conn.inFlight : batch, Math.floor(budget / perMessage));
      if (n <= 0) return;
      const packets: Buffer[] = [];
      for (let k = 0; k < n; k++) packets.push(nextPacket(conn));
      const ok = conn.socket.write(packets.length === 1 ? packets[0]! : Buffer.concat(packets));
      if (qos === 0) count(n * perMessage);
      if (!ok) conn.writable = false;
      if (qos === 0 && options.ratePerSec === undefined) {
        // Yield between batches so every connection gets its turn; TCP's drain paces the rest.
        setImmediate(() => pump(conn));
        return;
      }
    }
  }

  started = Date.now();
  const deadline = started + options.seconds * 1_000;
  let pacer: NodeJS.Timeout | undefined;
  if (options.ratePerSec && running) {
    const rate = options.ratePerSec;
    let sentBudget = 0;
    let turn = 0;
    pacer = setInterval(() => {
      const due = Math.floor(((Date.now() - started) / 1_000) * rate);
      budget += due - sentBudget;
      sentBudget = due;
      // Round-robin over connections until the budget is spent or nobody can send.
      for (let k = 0; k < conns.length && budget >= 1; k++) pump(conns[(turn + k) % conns.length]!);
      turn = (turn + 1) % Math.max(1, conns.length);
      // Unsent budget does not pile up beyond one second's worth (the generator is not a queue).
      budget = Math.min(budget, rate);
    }, 5);
  } else if (running) {
    for (const c of conns) pump(c);
  }

  await new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())));
  running = false;
  if (pacer) clearInterval(pacer);
  // QoS 1: wait (bounded) for the acknowledgements still due.
  const waitUntil = Date.now() + 30_000;
  while (qos === 1 && Date.now() < waitUntil && conns.some((c) => c.open && c.inFlight > 0)) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const elapsedMs = Date.now() - started;
  await Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (!c.open) return resolve();
          c.socket.once('close', () => resolve());
          c.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
          setTimeout(() => {
            c.socket.destroy();
            resolve();
          }, 2_000).unref();
        }),
    ),
  );
  return {
    connected: conns.length,
    refused,
    published,
    acked,
    errors,
    elapsedMs,
    startedAtMs: started,
    perSecond: [...perSecond].map((n) => n ?? 0),
  };
}
