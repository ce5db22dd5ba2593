/** Progress of a running Spark application, read from its own REST API (the driver UI port). */

export interface SparkProgress {
  jobsDone: number;
  jobsTotal: number;
  stagesDone: number;
  tasksDone: number;
  tasksTotal: number;
  activeTasks: number;
}

interface SparkJobJson {
  status: string;
  numTasks: number;
  numCompletedTasks: number;
  numActiveTasks: number;
  numCompletedStages: number;
}

/** null while the application is not up yet (or already gone). */
export async function readSparkProgress(uiPort: number): Promise<SparkProgress | null> {
  const base = `http://127.0.0.1:${uiPort}/api/v1/applications`;
  try {
    const apps = (await (await fetch(base, { signal: AbortSignal.timeout(1500) })).json()) as {
      id: string;
    }[];
    const app = apps[0];
    if (!app) return null;
    const jobs = (await (
      await fetch(`${base}/${app.id}/jobs`, { signal: AbortSignal.timeout(1500) })
    ).json()) as SparkJobJson[];
    return {
      jobsDone: jobs.filter((j) => j.status === 'SUCCEEDED').length,
      jobsTotal: jobs.length,
      stagesDone: jobs.reduce((n, j) => n + j.numCompletedStages, 0),
      tasksDone: jobs.reduce((n, j) => n + j.numCompletedTasks, 0),
      tasksTotal: jobs.reduce((n, j) => n + j.numTasks, 0),
      activeTasks: jobs.reduce((n, j) => n + j.numActiveTasks, 0),
    };
  } catch {
    return null;
  }
}
