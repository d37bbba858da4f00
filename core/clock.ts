/** Wall-clock time in epoch milliseconds; passed in as a boundary so tests and simulations control it. */
export interface Clock {
  /** Now, in epoch milliseconds. */
  nowMs(): number;
}

/** The system clock. */
export const SYSTEM_CLOCK: Clock = { nowMs: () => Date.now() };

/**
 * A simulated clock running `speed` times faster than the wall clock from `startMs`:
 * what simulators and the demo use to live a day in minutes.
 */
export class AcceleratedClock implements Clock {
  private readonly wallStartMs: number;

  constructor(
    private readonly startMs: number,
    private readonly speed: number,
    private readonly wall: Clock = SYSTEM_CLOCK,
  ) {
    if (!(speed > 0)) throw new RangeError(`speed: ${speed} (a positive number)`);
    this.wallStartMs = wall.nowMs();
  }

  nowMs(): number {
    return this.startMs + (this.wall.nowMs() - this.wallStartMs) * this.speed;
  }

  /** Wall-clock milliseconds that `simulatedMs` of simulated time take. */
  wallDelayMs(simulatedMs: number): number {
    return simulatedMs / this.speed;
  }
}

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private current = 0) {}
  nowMs(): number {
    return this.current;
  }
  /** Sets the time, in epoch milliseconds. */
  set(ms: number): void {
    this.current = ms;
  }
  /** Moves the time forward by `ms`. */
  advance(ms: number): void {
    this.current += ms;
  }
}

/**
 * Event time (ARCHITECTURE.md principle 1): processors reason on the readings' timestamps, never on the wall clock.
 * The watermark is the newest event time seen, less an allowed lateness: event time up to which the stream is
 * taken as complete. It never goes back.
 */
export class EventClock {
  private maxEventMs = Number.NEGATIVE_INFINITY;

  /** @param allowedLatenessMs how far behind the newest event a reading may still arrive in order. */
  constructor(private readonly allowedLatenessMs: number) {}

  /** Records an event time; returns true when it moved the watermark. */
  observe(eventMs: number): boolean {
    if (eventMs <= this.maxEventMs) return false;
    this.maxEventMs = eventMs;
    return true;
  }

  /** Event time up to which the stream is complete, or -Infinity before any event. */
  watermarkMs(): number {
    return this.maxEventMs - this.allowedLatenessMs;
  }

  /** The newest event time seen. */
  newestMs(): number {
    return this.maxEventMs;
  }
}
