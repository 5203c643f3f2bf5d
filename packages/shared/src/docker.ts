/**
 * The Docker Engine API client (dockerode) for the services that talk to Docker: metrics-agent, log-shipper,
 * autoscaler, snmp-poller (and the loadtest tool).
 *
 * dockerode 4 loads two transports at require time that these services never use: ssh2 (docker-modem's
 * `ssh://` transport, which instantiates a 16 MB WebAssembly heap) and @grpc/grpc-js + @grpc/proto-loader
 * (BuildKit sessions for image builds). In one Node 20 process `require('dockerode')` added 13.4 MB of anonymous
 * (resident) memory, ssh2 5.1 MB and the gRPC pair ~9 MB of it; each of the four sidecars paid it at idle
 * (BENCHMARKS.md, thirty-fifth session). Here they load on first use instead: an `ssh://` host or a BuildKit
 * build still works, it loads its transport then. The price: Node's internal `Module._load` is wrapped for the
 * duration of this one `require`, so a Node release that changes how CommonJS loads would need this revisited
 * (packages/shared/test/docker.test.ts fails then, it does not silently load everything).
 */
import Module, { createRequire } from 'node:module';
import type Dockerode from 'dockerode';

const require = createRequire(import.meta.url);

/** Modules dockerode and docker-modem require at load time and use only for SSH hosts and BuildKit builds. */
export const DEFERRED_DOCKER_MODULES: readonly string[] = ['ssh2', '@grpc/grpc-js', '@grpc/proto-loader'];

type Load = (request: string, parent: unknown, isMain: boolean) => unknown;

function deferred(request: string, load: () => unknown): unknown {
  let real: Record<string | symbol, unknown> | undefined;
  const get = () => (real ??= load() as Record<string | symbol, unknown>);
  if (request === 'ssh2') {
    // docker-modem reads `.Client` once at load time and constructs it only for an ssh:// host
    return {
      Client: function Client(...args: unknown[]) {
        const C = get().Client as new (...a: unknown[]) => unknown;
        return new C(...args);
      },
    };
  }
  // dockerode's session.js keeps the module objects and reads their members only inside a build
  return new Proxy({}, { get: (_t, p) => get()[p], has: (_t, p) => p in get() });
}

let dockerode: typeof Dockerode | undefined;

/** dockerode's constructor, loaded once with its unused transports deferred. */
export function loadDockerode(): typeof Dockerode {
  if (dockerode) return dockerode;
  const M = Module as unknown as { _load: Load };
  const original = M._load;
  M._load = function (this: unknown, request: string, parent: unknown, isMain: boolean) {
    if (DEFERRED_DOCKER_MODULES.includes(request)) return deferred(request, () => original.call(this, request, parent, false));
    return original.call(this, request, parent, isMain);
  };
  try {
    dockerode = require('dockerode') as typeof Dockerode;
  } finally {
    M._load = original;
  }
  return dockerode;
}

/** A Docker Engine API client, e.g. `dockerClient({ socketPath: '/var/run/docker.sock' })`. */
export function dockerClient(options: Dockerode.DockerOptions): Dockerode {
  const Docker = loadDockerode();
  return new Docker(options);
}
