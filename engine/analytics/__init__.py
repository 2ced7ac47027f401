"""Analytics math, pure: time buckets in a zone, breakdown top N, funnel steps, retention
cohorts and touch attribution. The database pipelines (resolvers.analytics) group events
by small UTC slots; everything here turns those groups into the answer, and is the
reference the property-based tests compare the pipelines with."""
