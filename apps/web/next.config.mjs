/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The dashboard reads and writes through the API's GraphQL endpoint only; it has no
  // server-side data access of its own.
};

export default nextConfig;
