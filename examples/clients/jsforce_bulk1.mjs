// Drives the crmgw demo with jsforce's Bulk API 1.0 (conn.bulk), unchanged:
// it sends its token in X-SFDC-Session and XML jobInfo bodies. Prints one
// JSON line of what each call gave, for examples/demo/clients_bulk1_test.go.
//   GW=https://127.0.0.1:8443 KEY=demo-manager-key REP=demo-sales-rep-key \
//   INTERN=demo-intern-key NODE_EXTRA_CA_CERTS=ca.pem node jsforce_bulk1.mjs
import jsforce from 'jsforce';

const { GW, KEY, REP, INTERN } = process.env;
const conn = (token) => {
  const c = new jsforce.Connection({ instanceUrl: GW, accessToken: token, version: '60.0' });
  c.bulk.pollInterval = 200;
  return c;
};
const code = (e) => e.errorCode || e.name || String(e);
const out = {};

// The manager exports every contact: job, SOQL batch, poll, result list,
// CSV result (cut at the export cap, national ids masked), close.
const manager = conn(KEY);
const rows = [];
for await (const r of await manager.bulk.query('SELECT Id, Name, MobilePhone, National_ID__c FROM Contact')) rows.push(r);
out.export = { rows: rows.length, phone: rows[0].MobilePhone, nationalId: rows[0].National_ID__c };

// A job is its creator's: the sales rep polling the manager's job gets not found.
const job = manager.bulk.createJob('Contact', 'query');
await job.open();
try {
  await conn(REP).bulk.job(job.id).check();
  out.otherPoll = 'allowed';
} catch (e) {
  out.otherPoll = code(e);
}
out.ownerPoll = (await manager.bulk.job(job.id).check()).state;
await job.close();

// The intern may not export: the refusal surfaces as jsforce's error.
try {
  await conn(INTERN).bulk.query('SELECT Id, Name FROM Contact');
  out.internExport = 'allowed';
} catch (e) {
  out.internExport = code(e);
}

console.log(JSON.stringify(out));
