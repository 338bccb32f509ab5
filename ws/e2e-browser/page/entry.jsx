// Test page: mounts the unchanged @nethesis/phone-island widget the way
// NethVoice CTI does, with the configuration from the query string, and
// records every phone-island-* window event in window.__islandEvents.
import React from 'react';
import { createRoot } from 'react-dom/client';
import { PhoneIsland } from '@nethesis/phone-island';
import '@nethesis/phone-island/dist/index.css';

const params = new URLSearchParams(location.search);

// A status line under the island for the screenshots: who is logged in and
// the last socket-related widget events.
const status = document.getElementById('status');
const shown = [];
window.__islandEvents = [];
const dispatch = window.dispatchEvent.bind(window);
window.dispatchEvent = (ev) => {
  if (typeof ev.type === 'string' && ev.type.startsWith('phone-island')) {
    window.__islandEvents.push({ type: ev.type, at: Date.now() });
    const name = ev.type.replace('phone-island-', '');
    if (/^socket-(connected|authorized|disconnected|reconnected)$|already-login|webrtc-registered|alert-set/.test(name) && shown.at(-1) !== name) {
      shown.push(name);
      status.textContent = `test page · uaType ${params.get('ua') || 'desktop'} · ${shown.slice(-4).join(' → ')}`;
    }
  }
  return dispatch(ev);
};
createRoot(document.getElementById('root')).render(
  <PhoneIsland dataConfig={params.get('config')} uaType={params.get('ua') || 'desktop'} showAlways={false} />,
);
