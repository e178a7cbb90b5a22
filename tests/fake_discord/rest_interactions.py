"""REST routes for interactions: the callback (one per interaction, within 3 s), follow-ups
and edits of ``@original`` through ``/webhooks/{app}/{token}`` (15 minutes)."""

from __future__ import annotations

from typing import Any

from .interactions import (
    ALLOWED_CALLBACKS,
    INTERACTION_TOKEN_TTL,
    NOT_EMULATED_CALLBACKS,
    CallbackType,
    FakeInteraction,
    InteractionType,
)
from .rest_common import (
    EPHEMERAL,
    LOADING,
    ApiError,
    Ctx,
    Reply,
    RouteHelpers,
    empty_message,
    form_error,
    leaf,
    unknown_message,
)
from .validation import is_empty_message, validate_message


class InteractionRoutes(RouteHelpers):
    """Interaction callback and webhook handlers of ``RestApi``."""

    def _interaction_extra(self, inter: FakeInteraction) -> dict[str, Any]:
        fake = self.fake
        user = inter.payload["member"]["user"]
        meta: dict[str, Any] = {
            "id": str(inter.id),
            "type": inter.type,
            "user": user,
            "authorizing_integration_owners": inter.payload["authorizing_integration_owners"],
        }
        extra: dict[str, Any] = {
            "webhook_id": str(fake.application_id),
            "application_id": str(fake.application_id),
            "interaction_metadata": meta,
            "type": 20 if inter.type == InteractionType.APPLICATION_COMMAND else 0,
        }
        if inter.type == InteractionType.APPLICATION_COMMAND:
            meta["name"] = inter.payload["data"]["name"]
            extra["interaction"] = {
                "id": str(inter.id),
                "type": inter.type,
                "name": meta["name"],
                "user": user,
            }
        return extra

    async def callback(self, ctx: Ctx) -> Reply:
        fake = self.fake
        inter = fake.interaction_by_id(ctx.id("webhook_id"))
        if inter is None or inter.token != ctx.params["webhook_token"]:
            raise ApiError(404, 10062, "Unknown interaction")
        if inter.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if fake.clock.time() - inter.created_at > fake.interaction_ack_timeout:
            raise ApiError(404, 10062, "Unknown interaction")
        body = ctx.json_object()
        cb_type = body.get("type")
        if cb_type not in ALLOWED_CALLBACKS.get(inter.type, set()):
            raise form_error(
                {
                    "type": leaf(
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Interaction response type {cb_type} is not valid for this interaction.",
                    )
                }
            )
        if cb_type in NOT_EMULATED_CALLBACKS:
            reason = f"fake Discord: {NOT_EMULATED_CALLBACKS[cb_type]} are not emulated"
            raise ApiError(400, 0, reason)
        data = body.get("data") or {}
        channel = fake.channel(inter.channel_id)
        assert channel is not None
        message: dict[str, Any] | None = None
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        if cb_type == CallbackType.CHANNEL_MESSAGE:
            self._check_message_body(data, prefix="data")
            extra = self._interaction_extra(inter)
            message = fake.store_message(channel, data, extra=extra, ephemeral=ephemeral)
            inter.original_message_id = int(message["id"])
        elif cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE:
            extra = self._interaction_extra(inter) | {
                "flags": LOADING | (EPHEMERAL if ephemeral else 0)
            }
            message = fake.store_message(channel, {}, extra=extra, ephemeral=ephemeral)
            inter.original_message_id = int(message["id"])
            inter.original_loading = True
        elif cb_type in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            source = inter.payload.get("message")
            if source is None:
                raise ApiError(400, 50035, "Invalid Form Body")
            inter.original_message_id = int(source["id"])
            if cb_type == CallbackType.UPDATE_MESSAGE:
                errors = validate_message(data)
                if errors:
                    raise form_error({"data": errors})
                message = fake.replace_message(fake.merged_message(int(source["id"]), data))
        elif cb_type == CallbackType.AUTOCOMPLETE_RESULT:
            choices = data.get("choices") or []
            if len(choices) > 25 or any(
                not 1 <= len(str(c.get("name", ""))) <= 100 for c in choices
            ):
                raise form_error(
                    {
                        "data": {
                            "choices": leaf(
                                "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                            )
                        }
                    }
                )
        inter.callbacks.append(body)
        fake.notify()
        if not ctx.flag("with_response"):
            return Reply(204)
        info: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        result: dict[str, Any] = {"interaction": info}
        if message is not None:
            info.update(
                response_message_id=message["id"],
                response_message_loading=cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE,
                response_message_ephemeral=ephemeral,
            )
            result["resource"] = {"type": cb_type, "message": message}
        return Reply(200, result)

    def _webhook_interaction(self, ctx: Ctx) -> FakeInteraction:
        fake = self.fake
        inter = fake.interaction_by_token(ctx.params["webhook_token"])
        if ctx.id("webhook_id") != fake.application_id or inter is None or not inter.acknowledged:
            raise ApiError(404, 10015, "Unknown Webhook")
        if fake.clock.time() - inter.created_at > INTERACTION_TOKEN_TTL:
            raise ApiError(401, 50027, "Invalid Webhook Token")
        return inter

    async def followup(self, ctx: Ctx) -> Reply:
        fake = self.fake
        inter = self._webhook_interaction(ctx)
        body = ctx.json_object()
        self._check_message_body(body)
        original = inter.original_message
        if inter.original_loading and original is not None:
            # The first follow-up after a deferred response fills in the "thinking" message.
            flags = int(body.get("flags") or 0) & ~EPHEMERAL
            message = fake.merged_message(int(original["id"]), body | {"flags": flags})
            message["flags"] |= original["flags"] & EPHEMERAL
            message["edited_timestamp"] = None
            fake.replace_message(message)
            inter.original_loading = False
        else:
            channel = fake.channel(inter.channel_id)
            assert channel is not None
            ephemeral = bool(int(body.get("flags") or 0) & EPHEMERAL)
            extra = self._interaction_extra(inter)
            message = fake.store_message(channel, body, extra=extra, ephemeral=ephemeral)
        inter.followups.append(body)
        inter.followup_message_ids.append(int(message["id"]))
        fake.notify()
        return Reply(200, message) if ctx.flag("wait") else Reply(204)

    def _webhook_target(self, inter: FakeInteraction, ctx: Ctx) -> int:
        raw = ctx.params["message_id"]
        if raw == "@original":
            target = inter.original_message_id
        else:
            target = ctx.id("message_id")
            if target not in inter.followup_message_ids and target != inter.original_message_id:
                target = None
        if target is None or self.fake.get_message(target) is None:
            raise unknown_message()
        return target

    async def edit_webhook_message(self, ctx: Ctx) -> Reply:
        fake = self.fake
        inter = self._webhook_interaction(ctx)
        target = self._webhook_target(inter, ctx)
        body = ctx.json_object()
        errors = validate_message(body)
        if errors:
            raise form_error(errors)
        merged = fake.merged_message(target, body)
        if is_empty_message(merged):
            raise empty_message()
        fake.replace_message(merged)
        if target == inter.original_message_id:
            inter.original_edits.append(body)
            inter.original_loading = False
        fake.notify()
        return Reply(200, merged)
