/**
 * Hashed timer wheel: O(1) schedule, one interval timer for all simulated users, instead of one
 * setTimeout/promise chain per user. Entries due in a later lap stay in their slot until their tick.
 */
export class TimerWheel {
  private readonly slots: number[][];
  private readonly due: number[][];
  private tick = 0;
  size = 0;

  constructor(
    readonly tickMs: number,
    slotCount: number,
  ) {
    this.slots = Array.from({ length: slotCount }, () => []);
    this.due = Array.from({ length: slotCount }, () => []);
  }

  /** Schedules `id` to fire `delayMs` from the current tick (at least one tick later). */
  schedule(id: number, delayMs: number): void {
    const ticks = Math.max(1, Math.ceil(delayMs / this.tickMs));
    const at = this.tick + ticks;
    const slot = at % this.slots.length;
    this.slots[slot].push(id);
    this.due[slot].push(at);
    this.size++;
  }

  /** Advances one tick and returns the ids due now. */
  advance(): number[] {
    this.tick++;
    const slot = this.tick % this.slots.length;
    const ids = this.slots[slot];
    const dues = this.due[slot];
    if (!ids.length) return [];
    const fire: number[] = [];
    const keepIds: number[] = [];
    const keepDue: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      if (dues[i] <= this.tick) fire.push(ids[i]);
      else {
        keepIds.push(ids[i]);
        keepDue.push(dues[i]);
      }
    }
    this.slots[slot] = keepIds;
    this.due[slot] = keepDue;
    this.size -= fire.length;
    return fire;
  }

  get now(): number {
    return this.tick;
  }
}
