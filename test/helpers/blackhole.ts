/**
 * A middlebox between a client and a server: forwards TCP both ways until told to black-hole the
 * connections it holds, after which their bytes vanish in both directions and nobody is told (no
 * FIN, no RST), as when a NAT gateway or load balancer forgets a flow. New connections go through.
 * With `idleMs`, a connection quiet for that long is black-holed by itself (a NAT's idle timeout).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

interface Flow {
  client: Socket;
  upstream: Socket;
  dead: boolean;
  lastByte: number;
}

export class BlackholeProxy {
  private server: Server | null = null;
  private readonly flows = new Set<Flow>();
  private idleTimer: NodeJS.Timeout | null = null;
  port = 0;
  /** Connections made through it, and how many it black-holed. */
  connections = 0;
  blackholed = 0;

  constructor(
    private targetPort: number,
    private readonly idleMs = 0,
  ) {}

  /** Point it at a server that starts after it (told the proxy's address as its own). */
  setTarget(port: number): void {
    this.targetPort = port;
  }

  async start(): Promise<void> {
    const server = createServer((client) => {
      this.connections++;
      const upstream = connect(this.targetPort, '127.0.0.1');
      const flow: Flow = { client, upstream, dead: false, lastByte: Date.now() };
      this.flows.add(flow);
      const forward = (from: Socket, to: Socket) => {
        from.on('data', (chunk) => {
          if (flow.dead) return; // swallowed
          flow.lastByte = Date.now();
          to.write(chunk);
        });
        from.on('end', () => {
          if (!flow.dead) to.end();
        });
      };
      forward(client, upstream);
      forward(upstream, client);
      for (const s of [client, upstream])
        s.on('error', () => {
          if (flow.dead) return;
          client.destroy();
          upstream.destroy();
        });
      client.on('close', () => this.flows.delete(flow));
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    if (this.idleMs > 0)
      this.idleTimer = setInterval(
        () => {
          for (const f of this.flows) if (!f.dead && Date.now() - f.lastByte > this.idleMs) this.kill(f);
        },
        Math.max(50, this.idleMs / 10),
      );
  }

  /** Black-hole every connection open now. */
  blackholeAll(): number {
    let n = 0;
    for (const f of this.flows)
      if (!f.dead) {
        this.kill(f);
        n++;
      }
    return n;
  }

  private kill(f: Flow): void {
    f.dead = true;
    this.blackholed++;
  }

  async stop(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer);
    for (const f of this.flows) {
      f.client.destroy();
      f.upstream.destroy();
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
