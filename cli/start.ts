#!/usr/bin/env node
// npm start: placeholder until the node lands; prints what the main job will do.
import '../src/polyfill.js'
console.log('asmtp: the node (asmtpd) is not built yet; npm test runs the core library tests.')
