"""The checkout saga of an order, run by Dapr Workflow.

Modules, each with one job; imports point down this list and never back to the HTTP use
cases (services.orders.service):

    runtime     registers the workflow and its activities, starts the reconciler (lifespan)
    reconciler  finds pending orders whose workflow is missing or stalled and starts one
    client      schedules workflows and raises events into them (the async workflow client)
    activities  every side effect of the saga, each safe to run twice
    workflow    the orchestrator: deterministic, no I/O
    payloads    the typed inputs, outputs and activity results both sides share
"""
