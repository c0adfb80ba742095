"""What crosses a service boundary, typed once and imported by both sides.

- `events`: the payload of every event on the `pubsub` component, and the event names.
- `internal`: the request and response of every `/internal/...` endpoint, and its path.
- `errors`: the machine-readable codes an internal endpoint answers with, and their body.

A publisher builds the payload type and a subscriber decodes into the same type; a caller
encodes the request type and the endpoint declares it as its body. Changing a field is
therefore a type error on both sides, never a key that one side stops sending. Types here
hold data only: no service imports another through this package.
"""
