// Drives the crmgw demo with jsforce, unchanged: only its instance URL and
// access token point at the gateway. Prints one JSON line of what each call
// gave, for examples/demo/clients_test.go to check.
//   GW=https://127.0.0.1:8443 KEY=demo-manager-key INTERN=demo-intern-key \
//   JWT=$(cat manager.jwt) NODE_EXTRA_CA_CERTS=ca.pem node jsforce.mjs
import jsforce from 'jsforce';

const { GW, KEY, INTERN, JWT } = process.env;
const conn = (token) => new jsforce.Connection({ instanceUrl: GW, accessToken: token, version: '60.0' });
const out = {};

const manager = conn(KEY);
const q = await manager.query('SELECT Id, Name, MobilePhone FROM Contact LIMIT 3');
out.rest = { totalSize: q.totalSize, records: q.records.length, phone: q.records[0].MobilePhone };

const all = await manager.query('SELECT Id FROM Contact').run({ autoFetch: true, maxFetch: 100000 });
out.autoFetch = { totalSize: all.totalSize, records: all.records.length };

const intern = conn(INTERN);
const iq = await intern.query('SELECT Id, Name, MobilePhone FROM Contact LIMIT 3');
out.intern = { phone: iq.records[0].MobilePhone };
try {
  await intern.sobject('Contact').destroy('003000000000001AAA');
  out.internDelete = 'allowed';
} catch (e) {
  out.internDelete = e.errorCode || e.name;
}

// The nightly integration (an API key) exports with Bulk API 2.0: create,
// poll, results, cut at the export cap.
const rows = await manager.bulk2.query('SELECT Id, Name, MobilePhone FROM Contact');
let n = 0;
for await (const _ of rows) n++;
out.bulk2 = { rows: n };

// A person's export of every contact waits for a second approval: jsforce
// surfaces the gateway's APPROVAL_REQUIRED as its own error.
try {
  await conn(JWT).bulk2.query('SELECT Id, Name FROM Contact');
  out.personExport = 'allowed';
} catch (e) {
  out.personExport = e.errorCode || e.name;
}

console.log(JSON.stringify(out));
