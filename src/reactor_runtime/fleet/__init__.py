"""`reactor fleet`: many `reactor run` replicas on Ray behind one coordinator-API gateway.

```
viewers ──coordinator API (COORDINATOR.md)──> gateway (FastAPI, stateless)
                                                 │ create / get / delete (actor calls)
                                                 ▼
                            controller (one named, detached Ray actor: tables.py)
                                                 ▲ health every second
replica supervisor (Ray actor, one GPU) ──supervises──> `reactor run --port 0` child
viewers <════ media: straight to the replica's node (its own ICE candidates) ════>
```

Only this package imports Ray, and it talks to replicas only through their HTTP
contract (`server/replica.py`): `/health`, `/start_session` with the session id,
`/stop_session`, `/drain`, and the signalling routes the gateway proxies.
"""
