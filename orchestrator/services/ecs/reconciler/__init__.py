"""The service scheduler's decisions: rollout arithmetic (``rollout``) and the plan for one service
(``plan``). Pure: no store, no Docker, no clock — the controller passes a snapshot and "now"."""
