import type { DockerProbe } from './docker.js';
import type { FaultResult, FaultSpec } from './types.js';

/** The faults asked for, injected through Docker when their time comes; without Docker each is reported as not done. */
export class FaultSchedule {
  readonly results: FaultResult[] = [];
  private readonly pending: FaultSpec[];
  private readonly injecting: Array<Promise<void>> = [];

  constructor(
    specs: FaultSpec[],
    private readonly probe: DockerProbe | null,
    private readonly say: (line: string) => void,
    private readonly elapsedS: () => number,
  ) {
    this.pending = [...specs].sort((a, b) => a.atS - b.atS);
  }

  /** Starts every fault due at `el` seconds (an injection runs on while the load goes on). */
  fireDue(el: number): void {
    while (this.pending.length && this.pending[0].atS <= el) {
      const f = this.pending.shift()!;
      if (!this.probe) {
        this.results.push({ ...f, firedAtS: el, ok: false, detail: 'Docker disabled' });
        continue;
      }
      this.say(`t=${el.toFixed(0)}s injecting fault: ${f.kind}`);
      this.injecting.push(
        this.probe.inject(f.kind, f.atS, el).then((res) => {
          this.results.push(res);
          this.say(`t=${this.elapsedS().toFixed(0)}s fault ${res.kind}: ${res.ok ? '' : 'FAILED '}${res.detail}`);
        }),
      );
    }
  }

  /** Waits for the injections still running, 15 s at most. */
  async settle(): Promise<void> {
    await Promise.race([Promise.all(this.injecting), new Promise((r) => setTimeout(r, 15_000))]);
  }
}
