#!/usr/bin/env python3
"""Signs requests again with botocore, at the instant Portcullis signed them, and prints what
botocore puts in Authorization (header signing) or X-Amz-Signature (presigning).

Used by test/cli/botocore.test.ts: the same request at the same time must get the same
signature from botocore's signer as from `portcullis request`.

Input (argv[1], JSON): {"accessKeyId", "secretAccessKey", "sessionToken"?, "requests": [
  {"kind": "header"|"query", "service", "region", "method", "url", "headers": [[k, v]...],
   "body": "<base64>", "amzDate": "YYYYMMDDTHHMMSSZ", "expires"?: N}]}
Output: {"botocore": "<version>", "results": ["<Authorization or X-Amz-Signature>", ...]}
"""
import base64
import datetime
import json
import sys
from urllib.parse import parse_qsl, urlsplit

import botocore
import botocore.auth
import botocore.awsrequest
import botocore.credentials


def freeze(amz_date):
    frozen = datetime.datetime.strptime(amz_date, '%Y%m%dT%H%M%SZ')

    def now(remove_tzinfo=True):
        return frozen if remove_tzinfo else frozen.replace(tzinfo=datetime.timezone.utc)

    botocore.auth.get_current_datetime = now


def main():
    cfg = json.loads(sys.argv[1])
    creds = botocore.credentials.Credentials(cfg['accessKeyId'], cfg['secretAccessKey'], cfg.get('sessionToken'))
    results = []
    for r in cfg['requests']:
        freeze(r['amzDate'])
        body = base64.b64decode(r['body']) if r['body'] else None
        request = botocore.awsrequest.AWSRequest(method=r['method'], url=r['url'], headers=dict(r['headers']), data=body)
        if r['kind'] == 'header':
            cls = botocore.auth.S3SigV4Auth if r['service'] == 's3' else botocore.auth.SigV4Auth
            cls(creds, r['service'], r['region']).add_auth(request)
            results.append(request.headers['Authorization'])
        else:
            cls = botocore.auth.S3SigV4QueryAuth if r['service'] == 's3' else botocore.auth.SigV4QueryAuth
            cls(creds, r['service'], r['region'], expires=r['expires']).add_auth(request)
            query = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
            results.append(query['X-Amz-Signature'])
    json.dump({'botocore': botocore.__version__, 'results': results}, sys.stdout)


main()
