// Run against mongodb-0 (directConnection): initiate the replica set unless that has been done.
const admin = db.getSiblingDB('admin');
admin.auth(process.env.MONGO_ROOT_USERNAME, process.env.MONGO_ROOT_PASSWORD);

const rsName = process.env.RS_NAME;
const replicas = parseInt(process.env.REPLICAS, 10);
const ns = process.env.POD_NAMESPACE;

let initiated = true;
try {
  rs.status();
} catch (e) {
  if (e.codeName !== 'NotYetInitialized') {
    throw e;
  }
  initiated = false;
}

if (initiated) {
  print(`replica set ${rsName} already initiated`);
} else {
  const members = [];
  for (let i = 0; i < replicas; i++) {
    members.push({ _id: i, host: `mongodb-${i}.mongodb.${ns}.svc:27017` });
  }
  rs.initiate({ _id: rsName, members });
  print(`initiated replica set ${rsName} with ${members.length} members`);
}
