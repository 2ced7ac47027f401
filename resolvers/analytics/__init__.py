"""Analytics over the event stream: trends, funnels, retention, campaign and journey
reports, and a trend's live bucket. It reads events, contacts, segments, messages,
campaigns and journeys, so it sits on top of the resolvers stack.

Pre-aggregation: none stored. Every pipeline starts with the events index
{workspace_id, name_key, timestamp} (one range per event name) and groups in MongoDB by
a UTC slot (engine.analytics.buckets.Buckets.slot_ms) and, where needed, by contact and
breakdown value; the zone-correct bucketing of those groups happens in Python. A rollup
collection (per hour and name) would have to be kept right on ingest, on identity merges
(events re-pointed to another contact change unique counts), for every zone offset and
for every `where` a caller may send; at 100k events the indexed range plus $group
answers in well under the budget (bench/analytics.py), so the cost is not worth it yet.
"""
