import type { Logger } from 'pino';
import type { LocalCluster } from '../local-cluster.js';
import { ClusterObserver } from './cluster-observer.js';
import { DashboardServer } from './dashboard-server.js';

export interface RunningDashboard {
  url: string;
  close(): Promise<void>;
}

/** Observes the cluster in `cluster.stateDir` and serves its dashboard on 127.0.0.1:`port` (0: any free port). */
export async function startDashboard(cluster: LocalCluster, port: number, log?: Logger): Promise<RunningDashboard> {
  const observer = new ClusterObserver(cluster, log);
  try {
    await observer.start();
    const server = await DashboardServer.start({ cluster, observer, port, ...(log === undefined ? {} : { log }) });
    return {
      url: server.url,
      close: async () => {
        await server.close();
        observer.close();
      },
    };
  } catch (err) {
    observer.close();
    throw err;
  }
}
