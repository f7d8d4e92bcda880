export const baseTypeDefs = /* GraphQL */ `
  "An ISO-8601 date and time in UTC."
  scalar DateTime

  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }

  type Query {
    "The server's version."
    version: String!
  }
`;
