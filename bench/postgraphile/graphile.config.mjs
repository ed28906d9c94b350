// PostGraphile v5 over ticketgate's database, as the benchmark runs it.
//
// Production settings: no watch mode, no GraphiQL, no `explain`, queries over POST only.
// PostGraphile introspects `public` (ticketgate's tables, untouched) and `tg_pgl`, which
// holds only what it needs to answer the same logical queries as ticketgate (see
// schema.sql): the ticket -> person rule (not a foreign key), the person's display name,
// and the customer's name and email out of the `anonymous_traits` JSON for search.
//
// Environment: DATABASE_URL (required), PGL_POOL_SIZE (connections of this process,
// default 16).
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { jsonPgSmartTags } from "postgraphile/utils";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

const connectionString = process.env.DATABASE_URL;
if (!connectionString) throw new Error("set DATABASE_URL");

// PostGraphile 5 offers no filter or order on a column no index starts with
// (PgIndexBehaviorsPlugin), to protect the database. ticketgate filters on these
// within its team-and-status, team-and-ticket or team-and-content (trigram) indexes, so
// PostGraphile may too: the `isIndexed` smart tag lifts that guard for them (set here, not
// in the database).
const IndexedEnough = jsonPgSmartTags({
  version: 1,
  config: {
    class: {
      "public.tickets": {
        attribute: {
          priority: { tags: { isIndexed: true } },
          // Scenario 8's tab per channel (ticketgate counts them in its one statement).
          channel_source: { tags: { isIndexed: true } },
        },
      },
      "public.messages": {
        attribute: {
          content: { tags: { isIndexed: true } },
          deleted: { tags: { isIndexed: true } },
          is_private: { tags: { isIndexed: true } },
        },
      },
    },
  },
});

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  plugins: [IndexedEnough],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public", "tg_pgl"],
      poolConfig: { max: Number(process.env.PGL_POOL_SIZE || 16) },
      // No subscriptions are benchmarked on PostGraphile: no LISTEN connection.
      pubsub: false,
    }),
  ],
  schema: {
    // `messagesByTicketId: { some: … }` in the search filter (ticketgate's search looks
    // into messages too).
    connectionFilterRelations: true,
    // Only what the benchmark's queries use, as the plugin's README advises.
    connectionFilterAllowedOperators: ["equalTo", "in", "includesInsensitive", "isNull"],
  },
  grafserv: {
    graphqlPath: "/graphql",
    graphiql: false,
    graphiqlOnGraphQLGET: false,
    graphqlOverGET: false,
    watch: false,
    websockets: false,
  },
  grafast: {
    explain: false,
  },
};

export default preset;
