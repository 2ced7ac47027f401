"""Outbound webhooks for partners: endpoints, the event outbox and signed delivery.

Low in the stack (just above core) so that every domain can emit to it with one call."""
