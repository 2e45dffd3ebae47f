import type { ContainerInfo } from './types.js';

/** Docker-shaped `inspect` output (PascalCase keys), so scripts written for `docker inspect` keep working. */
export function toDockerInspect(c: ContainerInfo): Record<string, unknown> {
  const l = c.hostConfig.limits;
  return {
    Id: c.id,
    Created: c.created,
    Path: c.process.args[0] ?? '',
    Args: c.process.args.slice(1),
    State: {
      Status: c.state.status,
      Running: c.state.running,
      Paused: false,
      Restarting: c.state.status === 'restarting',
      OOMKilled: c.state.oomKilled,
      Dead: c.state.status === 'dead',
      Pid: c.state.pid,
      ExitCode: c.state.exitCode,
      Error: c.state.error,
      StartedAt: c.state.startedAt,
      FinishedAt: c.state.finishedAt,
    },
    Image: c.imageId,
    Name: `/${c.name}`,
    RestartCount: c.state.restartCount,
    HostConfig: {
      AutoRemove: c.hostConfig.autoRemove,
      ReadonlyRootfs: c.hostConfig.readonlyRootfs,
      CapAdd: c.hostConfig.capAdd,
      CapDrop: c.hostConfig.capDrop,
      Init: c.hostConfig.init,
      RestartPolicy: {
        Name: c.hostConfig.restart.name,
        MaximumRetryCount: c.hostConfig.restart.name === 'on-failure' ? c.hostConfig.restart.maximumRetryCount : 0,
      },
      Memory: l.memory ?? 0,
      MemorySwap: l.memorySwap ?? 0,
      MemoryReservation: l.memoryReservation ?? 0,
      NanoCpus: l.cpuQuota && l.cpuPeriod && l.cpuQuota > 0 ? Math.round((l.cpuQuota / l.cpuPeriod) * 1e9) : 0,
      CpuQuota: l.cpuQuota ?? 0,
      CpuPeriod: l.cpuPeriod ?? 0,
      CpuShares: l.cpuShares ?? 0,
      CpusetCpus: l.cpusetCpus ?? '',
      PidsLimit: l.pidsLimit ?? null,
      NetworkMode: c.hostConfig.network,
      PortBindings: c.hostConfig.portBindings,
      ExtraHosts: c.hostConfig.addHosts,
      Dns: c.hostConfig.dns,
    },
    Mounts: c.mounts.map((m) => ({
      Type: 'bind',
      Source: m.source,
      Destination: m.destination,
      Mode: m.readonly ? 'ro' : '',
      RW: !m.readonly,
    })),
    Config: {
      Hostname: c.config.hostname,
      User: c.process.user,
      Tty: c.process.tty,
      OpenStdin: c.config.openStdin,
      Env: c.process.env,
      Cmd: c.config.cmd,
      Entrypoint: c.config.entrypoint,
      Image: c.image,
      WorkingDir: c.process.workingDir,
      Labels: c.config.labels,
      StopSignal: c.process.stopSignal,
      ExposedPorts: Object.fromEntries(c.config.exposedPorts.map((p) => [p, {}])),
    },
    NetworkSettings: c.network ?? {},
  };
}

/** Docker's COMMAND column: the quoted command line, truncated to 20 characters with an ellipsis. */
export function commandColumn(args: readonly string[], width = 20): string {
  const s = args.join(' ');
  return `"${s.length > width ? s.slice(0, width - 1) + '…' : s}"`;
}
