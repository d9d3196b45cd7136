"""Typed keys of the objects the receiver's handlers find on the application."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

from agentobs import store
from agentobs.metrics import ReceiverMetrics
from agentobs.receiver.auth import Authenticator
from agentobs.receiver.rejections import RejectionLog
from agentobs.settings import ReceiverSettings

SETTINGS = web.AppKey("settings", ReceiverSettings)
STORE = web.AppKey("store", store.Store)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
METRICS = web.AppKey("metrics", ReceiverMetrics)
REGISTRY = web.AppKey("registry", CollectorRegistry)
REJECTIONS = web.AppKey("rejections", RejectionLog)
