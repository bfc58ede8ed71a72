#!/usr/bin/env python
"""Drive our Alipay+/Antom v1 sandbox with Ant's official Python SDK (``global-open-sdk-python``).

Run this with the interpreter of the SDK's own virtual environment (``.venv-sdk``), never with the
project's: the SDK pins an old ``cryptography``.

The SDK's transport (``com.alipay.ams.api.net.default_http_rpc.do_post``) always opens HTTPS to port
443, so this script uses everything else the SDK offers and sends the bytes itself:

* request models (``UserPresentedCodePaymentRequest`` and the ``Order``/``Merchant``/``Store``/
  ``Env``/``Amount`` models for pay; ``OrderCodePaymentRequest`` for a merchant-presented order
  code, whose ``orderCodeForm`` the SDK's ``AlipayPayResponse`` reads back;
  ``AlipayPayQueryRequest``/``AlipayPayCancelRequest``;
  ``AlipayRefundRequest``/``AlipayInquiryRefundRequest`` for refunds;
  ``AlipayInquireExchangeRateRequest`` with ``CurrencyPair`` for exchange rates);
* the body exactly as the SDK's client produces it (``request.to_ams_json()``);
* the SDK's sandbox path rewrite (``DefaultAlipayClient.adjust_sandbox_url``), request time
  (``date_tools.get_cur_iso8601_time``), header set and ``Signature`` header layout;
* ``signature_tool.sign`` for the request and ``signature_tool.verify`` for the response;
* the SDK's response classes to parse the answer.

Like the SDK's ``do_post`` it uses ``http.client`` with the absolute URL as request target and the
header names spelled exactly as the SDK spells them, and it reads the response headers the way
``DefaultAlipayClient`` does (exact, case-sensitive names ``signature``, ``response-time``,
``client-id``).

Two more operations send nothing: ``sign_notification`` signs a ``notifyPayment`` body with
``signature_tool.sign`` the way Ant signs its notifications (``--private-key-file`` is then the
partner's key), and ``check_notification`` checks one with the SDK's ``webhook_tool.
check_signature`` (with ``--partner-public-key-file``) and parses it with
``AlipayPayResultNotify``, as a merchant using the SDK would.

Prints one JSON line on stdout. Exit status: 0 when an HTTP answer came back (whatever it says),
2 on a transport error (connection refused, timeout, malformed HTTP), 3 on bad arguments or keys.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import sys
import urllib.parse

from com.alipay.ams.api._version import USER_AGENT
from com.alipay.ams.api.default_alipay_client import DefaultAlipayClient
from com.alipay.ams.api.model.amount import Amount
from com.alipay.ams.api.model.currency_pair import CurrencyPair
from com.alipay.ams.api.model.env import Env
from com.alipay.ams.api.model.merchant import Merchant
from com.alipay.ams.api.model.order import Order
from com.alipay.ams.api.model.product_code_type import ProductCodeType
from com.alipay.ams.api.model.store import Store
from com.alipay.ams.api.request.notify.alipay_pay_result_notify import AlipayPayResultNotify
from com.alipay.ams.api.request.pay.alipay_inquire_exchange_rate_request import (
    AlipayInquireExchangeRateRequest,
)
from com.alipay.ams.api.request.pay.alipay_inquiry_refund_request import (
    AlipayInquiryRefundRequest,
)
from com.alipay.ams.api.request.pay.alipay_pay_cancel_request import AlipayPayCancelRequest
from com.alipay.ams.api.request.pay.alipay_pay_query_request import AlipayPayQueryRequest
from com.alipay.ams.api.request.pay.alipay_refund_request import AlipayRefundRequest
from com.alipay.ams.api.request.pay.order_code_payment_request import OrderCodePaymentRequest
from com.alipay.ams.api.request.pay.user_presented_code_payment_request import (
    UserPresentedCodePaymentRequest,
)
from com.alipay.ams.api.response.pay.alipay_inquire_exchange_rate_response import (
    AlipayInquireExchangeRateResponse,
)
from com.alipay.ams.api.response.pay.alipay_inquiry_refund_response import (
    AlipayInquiryRefundResponse,
)
from com.alipay.ams.api.response.pay.alipay_pay_cancel_response import AlipayPayCancelResponse
from com.alipay.ams.api.response.pay.alipay_pay_query_response import AlipayPayQueryResponse
from com.alipay.ams.api.response.pay.alipay_pay_response import AlipayPayResponse
from com.alipay.ams.api.response.pay.alipay_refund_response import AlipayRefundResponse
from com.alipay.ams.api.tools import signature_tool, webhook_tool
from com.alipay.ams.api.tools.constants import DEFAULT_CHARSET, DEFAULT_KEY_VERSION
from com.alipay.ams.api.tools.date_tools import get_cur_iso8601_time
from cryptography.hazmat.primitives import serialization

EXIT_TRANSPORT = 2
EXIT_USAGE = 3


# --------------------------------------------------------------------------------------------
# keys: the SDK wants the merchant private key as PKCS#1 ("RSA PRIVATE KEY") and adds the PEM
# markers itself when they are missing; the partner public key as SubjectPublicKeyInfo.
# --------------------------------------------------------------------------------------------
def load_private_key_for_sdk(text: str) -> str:
    """Return the key as the bare base64 of its PKCS#1 DER, the form the SDK's docs use."""
    text = text.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
    else:
        key = serialization.load_der_private_key(base64.b64decode(text), password=None)
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return base64.b64encode(der).decode("ascii")


def load_public_key_for_sdk(text: str) -> str:
    """Return the SubjectPublicKeyInfo as bare base64 (the SDK adds the PUBLIC KEY markers)."""
    text = text.strip()
    if "-----BEGIN" in text:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    else:
        key = serialization.load_der_public_key(base64.b64decode(text))
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


# --------------------------------------------------------------------------------------------
# requests, built with the SDK's models
# --------------------------------------------------------------------------------------------
def build_pay(args: argparse.Namespace) -> UserPresentedCodePaymentRequest:
    store = Store()
    store.reference_store_id = args.store_id
    store.store_name = "Interop Test Store"
    store.store_mcc = "5411"

    merchant = Merchant()
    merchant.reference_merchant_id = args.merchant_id
    merchant.merchant_mcc = "5411"
    merchant.merchant_name = "Interop Test Merchant"
    merchant.store = store

    env = Env()
    env.store_terminal_id = args.terminal_id
    env.store_terminal_request_time = get_cur_iso8601_time()

    order = Order()
    order.reference_order_id = "ORD-" + args.request_id
    order.order_description = "SDK interop test order"
    order.order_amount = Amount(args.currency, args.value)
    order.merchant = merchant
    order.env = env

    # productCode IN_STORE_PAYMENT, paymentMethod {CONNECT_WALLET, <code>},
    # paymentFactor {inStorePaymentScenario: PaymentCode} are set by the SDK model itself.
    return UserPresentedCodePaymentRequest(
        payment_request_id=args.request_id,
        order=order,
        currency=args.currency,
        amount_in_cents=args.value,
        payment_code=args.code,
        payment_notify_url=args.notify_url,
    )


def build_order_code(args: argparse.Namespace) -> OrderCodePaymentRequest:
    """A merchant-presented order code: no wallet code, no terminal (``env``); the SDK model
    sets productCode, paymentMethod CONNECT_WALLET and inStorePaymentScenario OrderCode."""
    store = Store()
    store.reference_store_id = args.store_id
    store.store_name = "Interop Test Store"
    store.store_mcc = "5411"

    merchant = Merchant()
    merchant.reference_merchant_id = args.merchant_id
    merchant.merchant_mcc = "5411"
    merchant.merchant_name = "Interop Test Merchant"
    merchant.store = store

    order = Order()
    order.reference_order_id = "ORD-" + args.request_id
    order.order_description = "SDK interop order code"
    order.order_amount = Amount(args.currency, args.value)
    order.merchant = merchant

    return OrderCodePaymentRequest(
        payment_request_id=args.request_id,
        order=order,
        currency=args.currency,
        amount_in_cents=args.value,
        payment_notify_url=args.notify_url,
        payment_expiry_time=args.expiry_time,
    )


def build_inquiry(args: argparse.Namespace) -> AlipayPayQueryRequest:
    req = AlipayPayQueryRequest()
    if args.payment_id:
        req.payment_id = args.payment_id
    else:
        req.payment_request_id = args.request_id
    return req


def build_cancel(args: argparse.Namespace) -> AlipayPayCancelRequest:
    req = AlipayPayCancelRequest()
    if args.payment_id:
        req.payment_id = args.payment_id
    else:
        req.payment_request_id = args.request_id
    return req


def build_refund(args: argparse.Namespace) -> AlipayRefundRequest:
    req = AlipayRefundRequest()
    req.refund_request_id = args.refund_request_id
    req.payment_id = args.payment_id
    req.refund_amount = Amount(args.currency, args.value)
    req.refund_reason = "SDK interop refund"
    return req


def build_inquiry_refund(args: argparse.Namespace) -> AlipayInquiryRefundRequest:
    req = AlipayInquiryRefundRequest()
    req.refund_request_id = args.refund_request_id
    return req


def build_exchange_rate(args: argparse.Namespace) -> AlipayInquireExchangeRateRequest:
    """One pair per ``--pair SELL/BUY`` (our adapter sells the merchant's currency)."""
    pairs = []
    for text in args.pair or []:
        pair = CurrencyPair()
        pair.sell_currency, pair.buy_currency = text.split("/")
        pairs.append(pair)
    req = AlipayInquireExchangeRateRequest()
    req.currency_pairs = pairs
    req.product_code = ProductCodeType.IN_STORE_PAYMENT
    return req


BUILDERS = {
    "pay": build_pay,
    "order_code": build_order_code,
    "inquiry": build_inquiry,
    "cancel": build_cancel,
    "refund": build_refund,
    "inquiry_refund": build_inquiry_refund,
    "exchange_rate": build_exchange_rate,
}
RESPONSES = {
    "pay": AlipayPayResponse,
    "order_code": AlipayPayResponse,
    "inquiry": AlipayPayQueryResponse,
    "cancel": AlipayPayCancelResponse,
    "refund": AlipayRefundResponse,
    "inquiry_refund": AlipayInquiryRefundResponse,
    "exchange_rate": AlipayInquireExchangeRateResponse,
}


def sandbox_path(client_id: str, path: str) -> str:
    """The SDK's own rewrite, run through its client so a change in the SDK shows up here."""

    class _Holder:
        pass

    holder = _Holder()
    holder.path = path
    # gateway url and keys are irrelevant to adjust_sandbox_url
    DefaultAlipayClient("https://unused.invalid", client_id, "", "").adjust_sandbox_url(holder)
    return holder.path


# --------------------------------------------------------------------------------------------
# response handling, the way DefaultAlipayClient.execute does it
# --------------------------------------------------------------------------------------------
def sdk_parse_headers(header_items: list[tuple[str, str]]) -> tuple[dict[str, str], str | None]:
    """Mirror DefaultAlipayClient.__parse_header: exact, case-sensitive header names.

    Returns the found values and, if the SDK would raise, the reason."""
    found: dict[str, str] = {}
    for name, value in header_items:
        if name == "signature" and value:
            found["signature"] = value.split("signature=")[1] if "signature=" in value else ""
        if name == "response-time":
            found["response-time"] = value
        if name == "client-id":
            found["client-id"] = value
    for needed in ("signature", "response-time", "client-id"):
        if needed not in found:
            return found, f"response header exception, {needed} not exist."
    return found, None


def any_case_headers(header_items: list[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in header_items:
        out.setdefault(name.lower(), value)
    return out


def sdk_verify(
    method: str,
    path: str,
    client_id: str,
    rsp_time: str,
    body: str,
    signature: str,
    public_key: str,
) -> tuple[bool, str | None]:
    try:
        ok = signature_tool.verify(method, path, client_id, rsp_time, body, signature, public_key)
        return bool(ok), None if ok else "verify returned false"
    except Exception as exc:  # rsa.VerificationError, bad base64, bad key...
        return False, f"{type(exc).__name__}: {exc}"


def enum_value(v):
    return getattr(v, "value", v)


def amount_dict(a) -> dict | None:
    if a is None:
        return None
    return {"currency": a.currency, "value": a.value}


def sign_notification(args: argparse.Namespace, private_key: str) -> int:
    """Sign ``--notify-body-file`` as Ant signs a notification: ``signature_tool.sign`` over
    ``POST <notify path>\n<client-id>.<request-time>.<body>`` with the partner's key."""
    with open(args.notify_body_file, encoding="utf-8") as fh:
        body = fh.read()
    request_time = args.request_time or get_cur_iso8601_time()
    value = signature_tool.sign(
        "POST", args.notify_path, args.client_id, request_time, body, private_key
    )
    header = "algorithm=RSA256,keyVersion=" + DEFAULT_KEY_VERSION + ",signature=" + value
    print(json.dumps({"request_time": request_time, "signature": header, "body": body}))
    return 0


def check_notification(args: argparse.Namespace, partner_public_key: str) -> int:
    """What a merchant using the SDK makes of a notification: ``webhook_tool.check_signature``
    and ``AlipayPayResultNotify``."""
    with open(args.notify_body_file, encoding="utf-8") as fh:
        body = fh.read()
    out: dict = {}
    try:
        out["signature_valid"] = bool(
            webhook_tool.check_signature(
                "POST",
                args.notify_path,
                args.client_id,
                args.request_time,
                body,
                args.signature_header,
                partner_public_key,
            )
        )
    except Exception as exc:  # rsa.VerificationError and the like: the SDK raises
        out["signature_valid"] = False
        out["verify_error"] = f"{type(exc).__name__}: {exc}"
    try:
        notify = AlipayPayResultNotify(body)
        result = notify.result
        out["notify"] = {
            "notifyType": notify.notify_type,
            "resultStatus": enum_value(result.result_status) if result else None,
            "resultCode": result.result_code if result else None,
            "paymentRequestId": notify.payment_request_id,
            "paymentId": notify.payment_id,
            "paymentAmount": notify.payment_amount,
            "paymentTime": notify.payment_time,
        }
    except Exception as exc:
        out["parse_error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out, sort_keys=True))
    return 0


NOTIFICATION_OPS = ("sign_notification", "check_notification")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8080")
    p.add_argument("--client-id", required=True)
    p.add_argument(
        "--private-key-file", required=True, help="merchant private key (PEM or base64 DER)"
    )
    p.add_argument(
        "--partner-public-key-file", required=True, help="sandbox public key (PEM or base64)"
    )
    p.add_argument("--code", default="", help="the scanned user-presented code (pay)")
    p.add_argument("--currency", default="USD")
    p.add_argument("--value", default="1000", help="minor units, a string")
    p.add_argument("--request-id", required=True, help="paymentRequestId")
    p.add_argument(
        "--payment-id", default=None, help="inquiry/cancel by paymentId instead; refund's payment"
    )
    p.add_argument("--refund-request-id", default=None, help="refund / inquiry_refund")
    p.add_argument("--pair", action="append", help="exchange_rate: SELL/BUY, repeatable")
    p.add_argument("--op", choices=sorted([*BUILDERS, *NOTIFICATION_OPS]), default="pay")
    p.add_argument("--merchant-id", default="M-INTEROP-1")
    p.add_argument("--store-id", default="S-INTEROP-1")
    p.add_argument("--terminal-id", default="T-INTEROP-1")
    p.add_argument("--notify-url", default=None)
    p.add_argument("--expiry-time", default=None, help="order_code: paymentExpiryTime")
    p.add_argument("--notify-path", default=None, help="notifications: the signed path")
    p.add_argument("--notify-body-file", default=None, help="notifications: the raw body")
    p.add_argument("--request-time", default=None, help="notifications: request-time")
    p.add_argument("--signature-header", default=None, help="check_notification: Signature")
    p.add_argument("--timeout", type=float, default=15.0)
    p.add_argument("--debug", action="store_true", help="add the raw request/response to the JSON")
    args = p.parse_args(argv)

    try:
        with open(args.private_key_file, encoding="ascii") as fh:
            private_key = load_private_key_for_sdk(fh.read())
        with open(args.partner_public_key_file, encoding="ascii") as fh:
            partner_public_key = load_public_key_for_sdk(fh.read())
    except Exception as exc:
        print(json.dumps({"error": f"key: {type(exc).__name__}: {exc}"}))
        return EXIT_USAGE
    if args.op == "sign_notification":
        return sign_notification(args, private_key)
    if args.op == "check_notification":
        return check_notification(args, partner_public_key)
    if args.op == "pay" and not args.code:
        print(json.dumps({"error": "--code is required for pay"}))
        return EXIT_USAGE
    if args.op in ("refund", "inquiry_refund") and not args.refund_request_id:
        print(json.dumps({"error": "--refund-request-id is required for refunds"}))
        return EXIT_USAGE

    request = BUILDERS[args.op](args)

    # --- what DefaultAlipayClient.execute does, minus do_post -----------------------------
    http_method = request.http_method.value
    path = sandbox_path(args.client_id, request.path)
    req_time = get_cur_iso8601_time()
    req_body = request.to_ams_json()
    sign_value = signature_tool.sign(
        http_method, path, args.client_id, req_time, req_body, private_key
    )
    key_version = request.key_version or DEFAULT_KEY_VERSION
    headers = {
        "Content-type": "application/json; charset=UTF-8",
        "Accept": "text/plain,text/xml,text/javascript,text/html",
        "Cache-Control": "no-cache",
        "Connection": "Keep-Alive",
        "User-Agent": USER_AGENT,
        "Request-Time": req_time,
        "client-id": args.client_id,
        "Signature": "algorithm=RSA256,keyVersion=" + key_version + ",signature=" + sign_value,
    }
    url = args.base_url.rstrip("/") + path

    # --- our own transport: plain HTTP, same request line and header bytes as do_post -------
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or not parsed.hostname:
        print(json.dumps({"error": "--base-url must be http://host:port"}))
        return EXIT_USAGE
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=args.timeout)
    try:
        conn.request("POST", url, body=req_body.encode(DEFAULT_CHARSET), headers=headers)
        response = conn.getresponse()
        status = response.status
        rsp_header_items = response.getheaders()
        rsp_bytes = response.read()
    except (OSError, http.client.HTTPException) as exc:
        print(json.dumps({"error": f"transport: {type(exc).__name__}: {exc}", "url": url}))
        return EXIT_TRANSPORT
    finally:
        conn.close()

    rsp_body = rsp_bytes.decode(DEFAULT_CHARSET, errors="replace")

    # --- response signature, exactly as the SDK client would check it -----------------------
    sdk_headers, header_error = sdk_parse_headers(rsp_header_items)
    loose = any_case_headers(rsp_header_items)
    signature_valid = False
    verify_error = header_error
    if header_error is None:
        signature_valid, verify_error = sdk_verify(
            http_method,
            path,
            sdk_headers["client-id"],
            sdk_headers["response-time"],
            rsp_body,
            sdk_headers["signature"],
            partner_public_key,
        )
    # the same check, header names matched case-insensitively (diagnosis only)
    signature_valid_any_case = False
    loose_sig = loose.get("signature", "")
    if (
        loose_sig
        and "signature=" in loose_sig
        and "response-time" in loose
        and "client-id" in loose
    ):
        signature_valid_any_case, _ = sdk_verify(
            http_method,
            path,
            loose["client-id"],
            loose["response-time"],
            rsp_body,
            loose_sig.split("signature=")[1],
            partner_public_key,
        )

    out: dict = {
        "http_status": status,
        "signature_valid": signature_valid,
        "signature_valid_any_case": signature_valid_any_case,
        "signature_present": bool(loose_sig),
        "verify_error": verify_error,
        "request_path": path,
        "request_id": args.request_id,
        "result": None,
        "paymentId": None,
        "paymentAmount": None,
    }
    # DefaultAlipayClient raises on any status but 200 and on a response it cannot verify
    out["sdk_would_accept"] = status == 200 and signature_valid

    try:
        parsed_rsp = RESPONSES[args.op](rsp_body)
    except Exception as exc:
        out["parse_error"] = f"{type(exc).__name__}: {exc}"
        parsed_rsp = None
    if parsed_rsp is not None:
        res = parsed_rsp.result
        if res is not None:
            out["result"] = {
                "resultStatus": enum_value(res.result_status),
                "resultCode": res.result_code,
                "resultMessage": res.result_message,
            }
        out["paymentId"] = getattr(parsed_rsp, "payment_id", None)
        out["paymentRequestId"] = getattr(parsed_rsp, "payment_request_id", None)
        out["paymentAmount"] = amount_dict(getattr(parsed_rsp, "payment_amount", None))
        if args.op == "pay":
            out["paymentTime"] = parsed_rsp.payment_time
        if args.op == "order_code":
            form = parsed_rsp.order_code_form
            out["orderCodeForm"] = (
                None
                if form is None
                else {
                    "expireTime": form.expire_time,
                    "codeDetails": [
                        {
                            "codeValueType": enum_value(d.code_value_type),
                            "codeValue": d.code_value,
                            "displayType": enum_value(d.display_type),
                        }
                        for d in form.code_details or []
                    ],
                }
            )
        if args.op == "inquiry":
            out["paymentStatus"] = enum_value(parsed_rsp.payment_status)
            out["paymentResultCode"] = parsed_rsp.payment_result_code
        if args.op == "cancel":
            out["cancelTime"] = parsed_rsp.cancel_time
        if args.op in ("refund", "inquiry_refund"):
            out["refundId"] = parsed_rsp.refund_id
            out["refundRequestId"] = parsed_rsp.refund_request_id
            out["refundAmount"] = amount_dict(parsed_rsp.refund_amount)
            out["refundTime"] = parsed_rsp.refund_time
        if args.op == "inquiry_refund":
            out["refundStatus"] = enum_value(parsed_rsp.refund_status)
        if args.op == "exchange_rate":
            # quotePrice as the SDK hands it over: json.loads made it a float (repr kept)
            out["quotes"] = [
                {
                    "quoteCurrencyPair": q.quote_currency_pair,
                    "quotePrice": repr(q.quote_price),
                    "quotePriceType": type(q.quote_price).__name__,
                    "quoteStartTime": q.quote_start_time,
                    "quoteExpiryTime": q.quote_expiry_time,
                    "guaranteed": q.guaranteed,
                }
                for q in parsed_rsp.quotes or []
            ]
    if args.debug:
        out["debug"] = {
            "url": url,
            "request_headers": headers,
            "request_body": req_body,
            "signed_content": signature_tool.gen_sign_content(
                http_method, path, args.client_id, req_time, req_body
            ),
            "response_headers": rsp_header_items,
            "response_body": rsp_body,
        }
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
