// Prints the introspection queries the tools send, made by graphql-js's own
// getIntrospectionQuery() (what GraphiQL, graphql-codegen and Apollo's tooling run): with
// its defaults, and with every option on. The Rust test sends them to the server.
import { getIntrospectionQuery } from 'graphql';

const everyOption = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
};
console.log(
  'NODE_JSON ' +
    JSON.stringify({
      defaults: getIntrospectionQuery(),
      every_option: getIntrospectionQuery(everyOption),
    }),
);
