// Serves PostGraphile (graphile.config.mjs) on PORT (default 5678), 127.0.0.1 only, with
// PGL_WORKERS processes sharing the port through node:cluster (default: one per core,
// as ticketgate's actix workers; a single Node process uses one core). Each process gets
// PGL_POOL_SIZE / PGL_WORKERS database connections (rounded up), so the total matches
// ticketgate's pool.
import cluster from "node:cluster";
import { createServer } from "node:http";
import { availableParallelism } from "node:os";

const port = Number(process.env.PORT || 5678);
const workers = Number(process.env.PGL_WORKERS || availableParallelism());
const totalPool = Number(process.env.PGL_POOL_SIZE || 16);

if (cluster.isPrimary && workers > 1) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    const worker = cluster.fork({ PGL_POOL_SIZE: String(Math.ceil(totalPool / workers)) });
    worker.on("message", (m) => {
      if (m === "listening" && ++ready === workers) {
        console.log(`postgraphile: ${workers} workers listening on http://127.0.0.1:${port}/graphql`);
      }
    });
  }
  cluster.on("exit", (worker, code, signal) => {
    console.error(`postgraphile: worker ${worker.process.pid} exited (${signal || code})`);
    process.exit(1);
  });
  const stop = () => {
    for (const w of Object.values(cluster.workers)) w.process.kill("SIGTERM");
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  if (workers <= 1) process.env.PGL_POOL_SIZE = String(totalPool);
  const { postgraphile } = await import("postgraphile");
  const { grafserv } = await import("postgraphile/grafserv/node");
  const { default: preset } = await import("./graphile.config.mjs");
  const pgl = postgraphile(preset);
  const serv = pgl.createServ(grafserv);
  const server = createServer();
  server.keepAliveTimeout = 65_000;
  serv.addTo(server);
  // Build the schema (introspection) before taking requests.
  await pgl.getSchema();
  server.listen(port, "127.0.0.1", () => {
    if (cluster.isWorker) process.send("listening");
    else console.log(`postgraphile: listening on http://127.0.0.1:${port}/graphql`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
