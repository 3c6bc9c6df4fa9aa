// Drives the crmgw demo with the official Zoho CRM Node.js SDK (v8),
// unchanged but for its environment (the gateway's URL instead of a Zoho
// data centre) and its access token (a crmgw credential). The SDK reads
// settings/fields first, then the records. Prints one JSON line for
// examples/demo/clients_test.go.
//   GW=https://127.0.0.1:8443/zoho KEY=demo-intern-key DIR=/tmp/x \
//   NODE_EXTRA_CA_CERTS=ca.pem node zoho.mjs
import * as ZOHOCRMSDK from '@zohocrm/nodejs-sdk-8.0';
import { Environment } from '@zohocrm/nodejs-sdk-8.0/lib/routes/dc/environment.js';

const { GW, KEY, DIR } = process.env;
const out = {};
const logger = new ZOHOCRMSDK.LogBuilder().level(ZOHOCRMSDK.Levels.OFF).filePath(DIR + '/zoho-sdk.log').build();
const token = new ZOHOCRMSDK.OAuthBuilder().accessToken(KEY).build();
await (await new ZOHOCRMSDK.InitializeBuilder())
  .environment(new Environment(GW, GW + '/accounts', GW))
  .token(token)
  .store(new ZOHOCRMSDK.FileStore(DIR + '/zoho-tokens.txt'))
  .resourcePath(DIR)
  .logger(logger)
  .initialize();

const ops = new ZOHOCRMSDK.Record.RecordOperations('Contacts');
const params = new ZOHOCRMSDK.ParameterMap();
await params.add(ZOHOCRMSDK.Record.GetRecordsParam.FIELDS, 'Last_Name,Email,Mobile');
await params.add(ZOHOCRMSDK.Record.GetRecordsParam.PER_PAGE, 3);
const resp = await ops.getRecords(params, new ZOHOCRMSDK.HeaderMap());
out.status = resp.getStatusCode();
const obj = resp.getObject();
if (obj instanceof ZOHOCRMSDK.Record.ResponseWrapper) {
  const recs = obj.getData();
  out.records = recs.length;
  out.mobile = recs[0].getKeyValue('Mobile');
  out.email = recs[0].getKeyValue('Email');
} else if (obj) {
  out.error = obj.getCode ? obj.getCode().getValue() : String(obj);
}
console.log(JSON.stringify(out));
