/** A small Prometheus registry: labelled counters and one latency histogram, text format 0.0.4. */

function labelText(labels: Readonly<Record<string, string>>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A counter over a fixed list of label names; values are given in that order. */
export class Counter {
  readonly #values = new Map<string, { labels: readonly string[]; n: number }>();
  constructor(readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {}

  inc(...labels: string[]): void {
    // A cheap key per label set; the exposition text is only built when scraped.
    const key = labels.join('\u0000');
    const v = this.#values.get(key);
    if (v) v.n++;
    else this.#values.set(key, { labels, n: 1 });
  }

  get(...labels: string[]): number {
    return this.#values.get(labels.join('\u0000'))?.n ?? 0;
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} counter\n`;
    for (const { labels, n } of this.#values.values()) {
      out += `${this.name}${labelText(Object.fromEntries(this.labelNames.map((l, i) => [l, labels[i] ?? ''])))} ${n}\n`;
    }
    return out;
  }
}

export class Histogram {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {
    this.#counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    this.#sum += v;
    this.#count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.#counts[i]!++;
  }

  render(): string {
    let out = `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} histogram\n`;
    this.buckets.forEach((b, i) => (out += `${this.name}_bucket{le="${b}"} ${this.#counts[i]}\n`));
    out += `${this.name}_bucket{le="+Inf"} ${this.#count}\n${this.name}_sum ${this.#sum}\n${this.name}_count ${this.#count}\n`;
    return out;
  }
}

export class Metrics {
  readonly requests = new Counter('portcullis_requests_total', 'Requests by service, action and HTTP status.', ['service', 'action', 'status']);
  readonly authFailures = new Counter('portcullis_auth_failures_total', 'Authentication failures by error code.', ['code']);
  readonly authThrottled = new Counter('portcullis_auth_throttled_total', 'Requests refused for repeated failed signatures, by what was throttled (source-key, source, key).', ['scope']);
  readonly tlsVersions = new Counter('portcullis_tls_requests_total', 'Requests by negotiated TLS version.', ['version']);
  readonly latency = new Histogram('portcullis_request_duration_seconds', 'Time from request to response.', [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
  ]);

  render(): string {
    return [this.requests, this.authFailures, this.authThrottled, this.tlsVersions, this.latency].map((m) => m.render()).join('');
  }
}
