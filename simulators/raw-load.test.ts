import { fc, test } from '@fast-check/vitest';
import mqttPacket from 'mqtt-packet';
import { describe, expect } from 'vitest';
import { encodePublish } from './raw-load.ts';

describe('raw-load', () => {
  test.prop([
    fc.string({ minLength: 1, maxLength: 80 }).filter((t) => !t.includes('\u0000')),
    fc.string({ maxLength: 20_000 }),
    fc.constantFrom<0 | 1>(0, 1),
    fc.integer({ min: 1, max: 65_535 }),
  ])(
    'encodes the PUBLISH packet mqtt-packet parses back when given any topic and payload',
    (topic, payload, qos, id) => {
      const parser = mqttPacket.parser({ protocolVersion: 4 });
      const packets: mqttPacket.Packet[] = [];
      parser.on('packet', (p) => packets.push(p));
      parser.on('error', (err) => {
        throw err;
      });
      parser.parse(encodePublish(topic, payload, qos, id));
      expect(packets).toHaveLength(1);
      const p = packets[0] as mqttPacket.IPublishPacket;
      expect(p.cmd).toBe('publish');
      expect(p.topic).toBe(topic);
      expect(Buffer.from(p.payload as Buffer).toString('utf8')).toBe(payload);
      expect(p.qos).toBe(qos);
      if (qos === 1) expect(p.messageId).toBe(id);
    },
  );
});
